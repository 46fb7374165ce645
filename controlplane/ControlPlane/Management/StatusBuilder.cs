using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// Computes server-written status from the resources and the observed agent rows, read once per request.
/// </summary>
internal sealed class StatusBuilder
{
    private readonly List<(ListenerEntity Entity, ListenerSpec Spec)> _listeners;
    private readonly List<BackendEntity> _backends;
    private readonly List<AgentEntity> _agents;
    private readonly ILookup<(string Pool, string Backend), BackendHealthEntity> _health;
    private readonly DateTime _nowUtc;

    /// <summary>A view from an agent that stopped reporting this long ago is stale.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(90);

    private StatusBuilder(List<(ListenerEntity, ListenerSpec)> listeners, List<BackendEntity> backends, List<AgentEntity> agents, List<BackendHealthEntity> health, DateTime nowUtc)
    {
        _listeners = listeners;
        _backends = backends;
        _agents = agents;
        _health = health.ToLookup(h => (h.Pool, h.Backend));
        _nowUtc = nowUtc;
    }

    /// <param name="agentState">Agents' observed state newer than their rows.</param>
    public static async Task<StatusBuilder> LoadAsync(IStoreView view, IAgentStateOverlay agentState, DateTime nowUtc, CancellationToken cancellationToken)
    {
        var listeners = await view.ListAsync<ListenerEntity>(cancellationToken).ConfigureAwait(false);
        var backends = await view.ListAsync<BackendEntity>(cancellationToken).ConfigureAwait(false);
        var agents = (await view.AgentsAsync(cancellationToken).ConfigureAwait(false)).ToList();
        agents.ForEach(agentState.Overlay);
        var health = agentState.OverlayHealth((await view.BackendHealthAsync(cancellationToken).ConfigureAwait(false)).ToList());
        return new StatusBuilder(listeners.Select(l => (l, ProtoJson.Parse<ListenerSpec>(l.SpecJson))).ToList(), backends.ToList(), agents, health, nowUtc);
    }

    public Pool Fill(Pool pool)
    {
        var name = pool.Metadata.Name;
        var backends = _backends.Where(b => b.Pool == name).Select(b => ProtoJson.Parse<BackendSpec>(b.SpecJson)).ToList();
        var status = new PoolStatus
        {
            BackendsTotal = backends.Count,
            BackendsEnabled = backends.Count(b => b.State.Length == 0 || b.State == "enabled"),
        };
        status.UsedByTiers.AddRange(_listeners
            .Where(l => l.Spec.Pool == name || l.Spec.Routes.Any(r => r.Pool == name))
            .Select(l => l.Spec.Tier)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal));
        var spec = pool.Spec;
        if (spec?.Protocol == "https")
        {
            var insecure = spec.BackendTls?.InsecureSkipVerify == true;
            status.Conditions.Add(new Condition
            {
                Type = "BackendTlsVerified",
                Status = insecure ? "False" : "True",
                Reason = insecure ? "InsecureSkipVerify" : spec.BackendTls?.CaPem.Length > 0 ? "PoolCaBundle" : "SystemTrust",
                Message = insecure
                    ? "backend certificates are NOT verified (insecureSkipVerify: true)"
                    : spec.BackendTls?.CaPem.Length > 0 ? "backend certificates are verified against the pool's CA bundle" : "backend certificates are verified against the system's trusted roots",
                ObservedGeneration = pool.Metadata.Generation,
            });
        }
        foreach (var tier in status.UsedByTiers)
        {
            var tierAgents = _agents.Where(a => a.Connected && a.Tier == tier).Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
            var healthy = _backends.Where(b => b.Pool == name).Count(b => _health[(name, b.Name)]
                .Any(h => tierAgents.Contains(h.Agent) && h.State == "healthy" && _nowUtc - h.ReportedAt <= StaleAfter));
            status.Tiers.Add(new TierBackendHealth { Tier = tier, Healthy = healthy, Total = backends.Count });
            var reporting = _backends.Where(b => b.Pool == name).Any(b => _health[(name, b.Name)]
                .Any(h => tierAgents.Contains(h.Agent) && _nowUtc - h.ReportedAt <= StaleAfter && h.State != "unknown"));
            if (healthy == 0 && backends.Count > 0 && reporting)
            {
                // Every backend is unhealthy on this tier's agents: they spread traffic over all enabled ones.
                status.Conditions.Add(new Condition
                {
                    Type = "FailingOpen",
                    Status = "True",
                    Reason = "NoHealthyBackend",
                    Message = $"no backend is healthy on the agents of tier {tier}; they fail open over every enabled backend",
                    ObservedGeneration = pool.Metadata.Generation,
                });
            }
        }
        pool.Status = status;
        return pool;
    }

    /// <summary>
    /// Each agent's view of the backend, and an aggregate over the views that are current: an
    /// agent that disconnected or stopped reporting is shown as stale and left out.
    /// </summary>
    public Backend Fill(Backend backend)
    {
        var status = new BackendStatus();
        var connected = _agents.Where(a => a.Connected).Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var row in _health[(backend.Spec.Pool, backend.Metadata.Name)])
        {
            var stale = !connected.Contains(row.Agent) || _nowUtc - row.ReportedAt > StaleAfter;
            status.Agents.Add(new BackendAgentHealth
            {
                Agent = row.Agent,
                State = row.State,
                Since = Timestamp.FromDateTime(row.Since),
                Reason = row.Reason,
                InFlight = row.InFlight,
                Stale = stale,
            });
            if (stale)
            {
                continue;
            }
            status.ReportingAgents++;
            status.InFlight += row.InFlight;
            if (row.State == "healthy")
            {
                status.HealthyAgents++;
            }
        }
        var unhealthy = status.Agents.Count(a => !a.Stale && a.State == "unhealthy");
        status.Health = status.ReportingAgents == 0 ? "unknown"
            : status.HealthyAgents == status.ReportingAgents ? "healthy"
            : unhealthy == status.ReportingAgents ? "unhealthy"
            : status.HealthyAgents == 0 ? "unknown"
            : "mixed";
        backend.Status = status;
        return backend;
    }

    public Listener Fill(Listener listener, ListenerEntity entity)
    {
        var status = new ListenerStatus();
        var pending = new List<string>();
        var failed = new List<string>();
        foreach (var agent in _agents.Where(a => a.Connected && a.Tier == entity.Tier))
        {
            var agentStatus = new ListenerAgentStatus { Agent = agent.Name, Revision = agent.AppliedRevision };
            if (agent.AppliedRevision < entity.ResourceVersion)
            {
                agentStatus.Reason = $"agent has applied revision {agent.AppliedRevision}; this listener is at revision {entity.ResourceVersion}";
                pending.Add(agent.Name);
            }
            else
            {
                // Agents list the listeners they could not program; a listener missing from the list was programmed.
                var result = agent.GetListenerResults().FirstOrDefault(r => r.Name == entity.Name);
                agentStatus.Programmed = result?.Programmed ?? true;
                agentStatus.Reason = result?.Reason ?? "";
                if (!agentStatus.Programmed)
                {
                    failed.Add($"{agent.Name}: {agentStatus.Reason}");
                }
            }
            if (agentStatus.Programmed)
            {
                status.AgentsProgrammed++;
            }
            status.AgentsTotal++;
            status.Agents.Add(agentStatus);
        }
        var transition = Timestamp.FromDateTime(entity.UpdatedAt);
        status.Conditions.Add(new Condition
        {
            Type = "Accepted",
            Status = "True",
            Reason = "Accepted",
            Message = "the listener passed validation",
            ObservedGeneration = entity.Generation,
            LastTransitionTime = transition,
        });
        var programmed = new Condition { Type = "Programmed", ObservedGeneration = entity.Generation, LastTransitionTime = transition };
        if (status.AgentsTotal == 0)
        {
            (programmed.Status, programmed.Reason, programmed.Message) = ("False", "NoAgents", $"no agent of tier {entity.Tier} is connected");
        }
        else if (failed.Count > 0)
        {
            (programmed.Status, programmed.Reason, programmed.Message) = ("False", "Failed", $"{status.AgentsProgrammed} of {status.AgentsTotal} agents programmed it; " + string.Join("; ", failed));
        }
        else if (pending.Count > 0)
        {
            (programmed.Status, programmed.Reason, programmed.Message) = ("False", "Pending", $"{status.AgentsProgrammed} of {status.AgentsTotal} agents programmed it; waiting for {string.Join(", ", pending)}");
        }
        else
        {
            (programmed.Status, programmed.Reason, programmed.Message) = ("True", "Programmed", $"all {status.AgentsTotal} connected agents programmed it");
        }
        status.Conditions.Add(programmed);
        listener.Status = status;
        return listener;
    }

    public Certificate Fill(Certificate certificate, CertificateEntity entity)
    {
        var status = certificate.Status ?? new CertificateStatus();
        var listeners = _listeners
            .Where(l => l.Spec.Protocol == "https" && l.Spec.Certificates.Contains(entity.Name))
            .ToLookup(l => l.Spec.Tier, l => l.Entity.Name, StringComparer.Ordinal);
        foreach (var agent in _agents.Where(a => a.Connected && listeners.Contains(a.Tier)))
        {
            status.AgentsTotal++;
            // Applying the revision is not enough: an agent that could not program a listener
            // naming this certificate (it failed to load it, or to bind) does not serve it.
            var users = listeners[agent.Tier].ToHashSet(StringComparer.Ordinal);
            if (agent.AppliedRevision >= entity.ResourceVersion
                && !agent.GetListenerResults().Any(r => !r.Programmed && users.Contains(r.Name)))
            {
                status.AgentsServing++;
            }
        }
        var remaining = entity.NotAfter - _nowUtc;
        var condition = new Condition { Type = "Valid", ObservedGeneration = entity.Generation, LastTransitionTime = Timestamp.FromDateTime(entity.UpdatedAt) };
        if (remaining <= TimeSpan.Zero)
        {
            (condition.Status, condition.Reason, condition.Message) = ("False", "Expired", $"expired at {entity.NotAfter:yyyy-MM-ddTHH:mm:ssZ}");
        }
        else if (remaining < CertificateInspector.ExpiryWarningWindow)
        {
            (condition.Status, condition.Reason, condition.Message) = ("True", "ExpiringSoon", $"expires at {entity.NotAfter:yyyy-MM-ddTHH:mm:ssZ}, in {(int)remaining.TotalDays} day(s); rotate it");
        }
        else
        {
            (condition.Status, condition.Reason, condition.Message) = ("True", "Valid", $"valid until {entity.NotAfter:yyyy-MM-ddTHH:mm:ssZ}");
        }
        status.Conditions.Add(condition);
        certificate.Status = status;
        return certificate;
    }
}
