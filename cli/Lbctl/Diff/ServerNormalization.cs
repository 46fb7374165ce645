using Google.Protobuf;
using Google.Protobuf.Collections;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Diff;

/// <summary>
/// What the server does to a resource before it compares and stores it (ResourceStore.Normalize
/// in the control plane): names and references are lowercased. Applied to the manifest's side
/// of a diff so that <c>pool: Web</c> against a stored <c>web</c> is not reported as a change
/// that apply would not make.
/// </summary>
internal static class ServerNormalization
{
    public static IMessage Normalize(IMessage message)
    {
        var copy = message.Descriptor.Parser.ParseFrom(message.ToByteString());
        switch (copy)
        {
            case Pool pool:
                LowerName(pool.Metadata);
                break;
            case Backend backend:
                LowerName(backend.Metadata);
                if (backend.Spec is not null)
                {
                    backend.Spec.Pool = backend.Spec.Pool.ToLowerInvariant();
                }
                break;
            case Listener listener:
                LowerName(listener.Metadata);
                if (listener.Spec is { } spec)
                {
                    spec.Tier = spec.Tier.ToLowerInvariant();
                    spec.Pool = spec.Pool.ToLowerInvariant();
                    LowerAll(spec.Certificates);
                    foreach (var route in spec.Routes)
                    {
                        route.Pool = route.Pool.ToLowerInvariant();
                        LowerAll(route.Hosts);
                        foreach (var backend in route.Backends)
                        {
                            backend.Pool = backend.Pool.ToLowerInvariant();
                        }
                        foreach (var filter in route.Filters)
                        {
                            if (filter.RequestRedirect is { } redirect)
                            {
                                redirect.Hostname = redirect.Hostname.ToLowerInvariant();
                            }
                            if (filter.UrlRewrite is { } rewrite)
                            {
                                rewrite.Hostname = rewrite.Hostname.ToLowerInvariant();
                            }
                        }
                    }
                }
                break;
            case Certificate certificate:
                LowerName(certificate.Metadata);
                break;
        }
        return copy;
    }

    /// <summary>The state a backend takes when its spec does not say: the server's default.</summary>
    public const string DefaultBackendState = "enabled";

    /// <summary>The effective state of a backend spec (absent is the default, enabled).</summary>
    public static string EffectiveState(BackendSpec? spec) =>
        spec is null || spec.State.Length == 0 ? DefaultBackendState : spec.State;

    /// <summary>
    /// Copies of both sides in which a value equal to the server's default is the same as an
    /// absent one (a backend drained and enabled again stores state: enabled; weight 1), so they
    /// are no difference; and in which a state that does differ is written out on both sides, so
    /// that applying a manifest without a state shows as "draining" becoming "enabled".
    /// </summary>
    public static (IMessage Desired, IMessage Current) WithoutDefaults(IMessage desired, IMessage current)
    {
        if (desired is not Backend want || current is not Backend have)
        {
            return (desired, current);
        }
        want = want.Clone();
        have = have.Clone();
        var wantState = EffectiveState(want.Spec);
        var haveState = EffectiveState(have.Spec);
        foreach (var spec in new[] { want.Spec, have.Spec })
        {
            if (spec is null)
            {
                continue;
            }
            if (spec.State == DefaultBackendState)
            {
                spec.State = "";
            }
            if (spec.HasWeight && spec.Weight == 1)
            {
                spec.ClearWeight();
            }
        }
        if (wantState != haveState)
        {
            (want.Spec ??= new BackendSpec()).State = wantState;
            (have.Spec ??= new BackendSpec()).State = haveState;
        }
        return (want, have);
    }

    private static void LowerName(ObjectMeta? metadata)
    {
        if (metadata is not null)
        {
            metadata.Name = metadata.Name.ToLowerInvariant();
        }
    }

    private static void LowerAll(RepeatedField<string> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            values[i] = values[i].ToLowerInvariant();
        }
    }
}
