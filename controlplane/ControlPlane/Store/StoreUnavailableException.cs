namespace LoadBalancer.ControlPlane.Store;

/// <summary>
/// The store could not be read or written (busy, locked, I/O, a constraint): raised by the store
/// implementations in place of their driver's exceptions, so callers name no database. The
/// message is the driver's innermost one; the driver's exception is the inner one.
/// </summary>
public sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);
