namespace LoadBalancer.ControlPlane.Store;

/// <summary>
/// The kinds of resource the store holds. A value's name is what error messages and the change
/// log show ("Pool web not found", kind "Pool"), so the names are part of what clients see.
/// </summary>
public enum ResourceKind
{
    Pool,
    Backend,
    Listener,
    Certificate,
    Agent,
}
