using Google.Protobuf;
using Google.Protobuf.Reflection;
using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// What the fuzzer believes the server holds (resynchronized from an <see cref="ApiExport"/>
/// every so often), used to build VALID requests for every method: new names, existing
/// resources with their resourceVersion, references that resolve. Mutations then break one field.
/// </summary>
internal sealed class FuzzModel(string adminTokenId)
{
    public const string Tier = "fz";

    private static readonly string[] Algorithms = ["round-robin", "weighted-round-robin", "least-connections", "random", "power-of-two", "ip-hash"];

    private readonly Dictionary<string, Pool> _pools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Backend> _backends = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Listener> _listeners = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Certificate> _certificates = new(StringComparer.Ordinal);
    private readonly List<string> _tokens = [];
    private readonly Dictionary<string, string> _keysByCertificate = new(StringComparer.Ordinal);
    private readonly List<TestCertificates.Pem> _pairs = [];
    private int _next;

    /// <summary>Makes certificate pairs and a small valid configuration (pools of each protocol, backends, listeners, certificates).</summary>
    public async Task SeedAsync(ApiServer server, ProtoFuzzer fuzzer, IEnumerable<string> hostilePems)
    {
        var now = DateTimeOffset.UtcNow;
        _pairs.Add(TestCertificates.Rsa("fz-a.example.com", now));
        _pairs.Add(TestCertificates.Ecdsa("fz-b.example.com", now));
        _pairs.Add(TestCertificates.Ecdsa("fz-c.example.com", now, sec1: true));
        _pairs.Add(TestCertificates.Chain("fz-d.example.com", now));
        foreach (var pair in _pairs)
        {
            _keysByCertificate[pair.CertificatePem] = pair.PrivateKeyPem;
            fuzzer.Pems.Add(pair.CertificatePem);
            fuzzer.Pems.Add(pair.PrivateKeyPem);
        }
        fuzzer.Pems.AddRange(hostilePems);

        var apply = new ApplyRequest
        {
            Resources =
            {
                Resources.R(Resources.Pool("fz-web", "http")),
                Resources.R(Resources.Pool("fz-secure", "https", s => s.BackendTls = new BackendTls { InsecureSkipVerify = true })),
                Resources.R(Resources.Pool("fz-db", "tcp")),
                Resources.R(Resources.Pool("fz-idle", "http")),
                Resources.R(Resources.Backend("fz-web-1", "fz-web", "10.0.0.1:8080")),
                Resources.R(Resources.Backend("fz-db-1", "fz-db", "10.0.0.2:5432")),
                Resources.R(Resources.Certificate("fz-cert-a", _pairs[0].CertificatePem, _pairs[0].PrivateKeyPem)),
                Resources.R(Resources.Certificate("fz-cert-b", _pairs[1].CertificatePem, _pairs[1].PrivateKeyPem)),
                Resources.R(Resources.HttpListener("fz-http", Tier, 8080, "fz-web")),
                Resources.R(Resources.HttpsListener("fz-https", Tier, 8443, "fz-secure", "fz-cert-a", "fz-cert-b")),
                Resources.R(Resources.TcpListener("fz-tcp", Tier, 5432, "fz-db")),
            },
        };
        await server.Management(server.AdminToken).ApplyAsync(apply);
        await server.CreateTokenAsync("viewer");
    }

    public void Refresh(ApiExport export, ProtoFuzzer fuzzer)
    {
        Replace(_pools, export.Pools.Items, p => p.Metadata.Name);
        Replace(_backends, export.Backends.Items, b => b.Metadata.Name);
        Replace(_listeners, export.Listeners.Items, l => l.Metadata.Name);
        Replace(_certificates, export.Certificates.Items, c => c.Metadata.Name);
        _tokens.Clear();
        _tokens.AddRange(export.Tokens.Items.Where(t => t.Id != adminTokenId).Select(t => t.Id));
        fuzzer.KnownNames.Clear();
        fuzzer.KnownNames.AddRange(_pools.Keys.Concat(_backends.Keys).Concat(_listeners.Keys).Concat(_certificates.Keys).Append(Tier));
    }

    /// <summary>Follows an accepted write, so that the next valid requests see it before the next refresh (an Apply waits for the refresh).</summary>
    public void Observe(MethodDescriptor method, IMessage request, IMessage response)
    {
        switch (response)
        {
            case Pool pool:
                _pools[pool.Metadata.Name] = pool;
                break;
            case Backend backend:
                _backends[backend.Metadata.Name] = backend;
                break;
            case Listener listener:
                _listeners[listener.Metadata.Name] = listener;
                break;
            case Certificate certificate:
                _certificates[certificate.Metadata.Name] = certificate;
                break;
            case DeleteResponse when request is DeleteRequest delete:
                var name = delete.Name.ToLowerInvariant();
                switch (method.Name)
                {
                    case "DeletePool":
                        _pools.Remove(name);
                        break;
                    case "DeleteBackend":
                        _backends.Remove(name);
                        break;
                    case "DeleteListener":
                        _listeners.Remove(name);
                        break;
                    case "DeleteCertificate":
                        _certificates.Remove(name);
                        break;
                }
                break;
            case CreateTokenResponse created:
                _tokens.Add(created.Token.Id);
                break;
        }
    }

    /// <summary>
    /// A request for <paramref name="method"/> that the server should accept (or refuse only for state
    /// reasons: in use, stale, taken port); null for a method this model does not know yet.
    /// </summary>
    public IMessage? ValidRequest(MethodDescriptor method, Random random)
    {
        var dryRun = random.NextDouble() < 0.3;
        return method.Name switch
        {
            "CreatePool" => new WritePoolRequest { Pool = NewPool(random), DryRun = dryRun },
            "UpdatePool" => new WritePoolRequest { Pool = Changed(Pick(_pools, random), random) ?? NewPool(random), DryRun = dryRun },
            "GetPool" or "GetBackend" or "GetListener" or "GetCertificate" => new GetRequest { Name = PickName(method.Name[3..], random) },
            "ExportCertificateKey" => new GetRequest { Name = PickName("Certificate", random) },
            "ListPools" or "ListBackends" or "ListListeners" or "ListCertificates" => Selector(random),
            "DeletePool" or "DeleteBackend" or "DeleteListener" or "DeleteCertificate" => Delete(method.Name[6..], random, dryRun),
            "CreateBackend" => new WriteBackendRequest { Backend = NewBackend(random), DryRun = dryRun },
            "UpdateBackend" => new WriteBackendRequest { Backend = Changed(Pick(_backends, random), random) ?? NewBackend(random), DryRun = dryRun },
            "CreateListener" => new WriteListenerRequest { Listener = NewListener(random), DryRun = dryRun },
            "UpdateListener" => new WriteListenerRequest { Listener = Changed(Pick(_listeners, random), random) ?? NewListener(random), DryRun = dryRun },
            "CreateCertificate" => new WriteCertificateRequest { Certificate = NewCertificate(random), DryRun = dryRun },
            "UpdateCertificate" => new WriteCertificateRequest { Certificate = Changed(Pick(_certificates, random), random) ?? NewCertificate(random), DryRun = dryRun },
            "GetAgent" => new GetRequest { Name = "agent-1" },
            "ListAgents" => new ListRequest { LabelSelector = { ["tier"] = Tier } },
            "DeleteAgent" => new DeleteRequest { Name = "agent-1", DryRun = dryRun },
            "Apply" => Apply(random, dryRun),
            "GetStatus" => new GetStatusRequest(),
            "CreateToken" => NewToken(random),
            "ListTokens" => new ListTokensRequest { All = random.Next(2) == 0 },
            "RevokeToken" => new RevokeTokenRequest { Id = _tokens.Count > 0 ? _tokens[random.Next(_tokens.Count)] : "t-000000000000" },
            "WhoAmI" => new WhoAmIRequest(),
            "ListAudit" => new ListAuditRequest
            {
                Limit = random.Next(0, 1001),
                Kind = new[] { "", "pool", "Backend", "LISTENER", "certificate", "Token" }[random.Next(6)],
                Name = random.Next(3) == 0 ? PickName("Pool", random) : "",
                BeforeId = random.Next(2) == 0 ? 0 : random.NextInt64(1, 5000),
            },
            _ => null,
        };
    }

    private string NewName(string kind) => $"fz-{kind}-{++_next}";

    private static int Port(Random random) => random.Next(1024, 65536);

    private Pool NewPool(Random random)
    {
        var protocol = new[] { "http", "https", "tcp" }[random.Next(3)];
        return Resources.Pool(NewName("pool"), protocol, spec =>
        {
            spec.Algorithm = Algorithms[random.Next(Algorithms.Length)];
            if (random.Next(3) == 0)
            {
                spec.HealthCheck = protocol == "tcp"
                    ? new HealthCheck { Type = "tcp", Interval = "5s", Timeout = "1s" }
                    : new HealthCheck { Type = "http", Path = "/healthz", Interval = "10s", Timeout = "2s", HealthyThreshold = 2, ExpectedStatus = "200-399" };
            }
            if (random.Next(3) == 0)
            {
                spec.SessionPersistence = protocol == "tcp" ? new SessionPersistence { Type = "source-ip" } : new SessionPersistence { Type = "cookie", CookieName = "lb", Ttl = "1h" };
            }
            if (protocol == "https" && random.Next(2) == 0)
            {
                spec.BackendTls = new BackendTls { InsecureSkipVerify = true };
            }
            if (random.Next(2) == 0)
            {
                spec.Retries = random.Next(0, 4);
                spec.ConnectTimeout = "3s";
            }
        });
    }

    private Backend NewBackend(Random random)
    {
        var pool = PickName("Pool", random);
        return Resources.Backend(NewName("backend"), pool, $"10.{random.Next(256)}.{random.Next(256)}.{random.Next(1, 255)}:{random.Next(1, 65536)}", spec =>
        {
            if (random.Next(2) == 0)
            {
                spec.Weight = random.Next(1, 1001);
            }
            spec.State = new[] { "", "enabled", "draining", "disabled" }[random.Next(4)];
        });
    }

    private Listener NewListener(Random random)
    {
        var name = NewName("listener");
        var byProtocol = _pools.Values.GroupBy(p => p.Spec.Protocol).ToDictionary(g => g.Key, g => g.Select(p => p.Metadata.Name).ToList());
        string PoolOf(params string[] protocols)
        {
            var names = protocols.SelectMany(p => byProtocol.GetValueOrDefault(p) ?? []).ToList();
            return names.Count > 0 ? names[random.Next(names.Count)] : "fz-web";
        }
        return random.Next(3) switch
        {
            0 => Resources.TcpListener(name, Tier, Port(random), PoolOf("tcp")),
            1 when _certificates.Count > 0 => Resources.HttpsListener(name, Tier, Port(random), PoolOf("http", "https"), PickName("Certificate", random)),
            _ => Resources.HttpListener(name, Tier, Port(random), PoolOf("http", "https"), spec =>
            {
                spec.Routes.Add(new Route { Hosts = { "api.example.com", "*.example.org" }, PathPrefix = "/api", Pool = PoolOf("http", "https") });
            }),
        };
    }

    private Certificate NewCertificate(Random random)
    {
        var pair = _pairs[random.Next(_pairs.Count)];
        return Resources.Certificate(NewName("cert"), pair.CertificatePem, pair.PrivateKeyPem);
    }

    private static CreateTokenRequest NewToken(Random random) => random.Next(3) switch
    {
        0 => new CreateTokenRequest { Role = "viewer", Description = "fuzz viewer", Ttl = "1h" },
        1 => new CreateTokenRequest { Role = "agent", Tier = Tier, Ttl = "90d" },
        _ => new CreateTokenRequest { Role = "admin", Description = "fuzz admin" },
    };

    private static ListRequest Selector(Random random) =>
        random.Next(2) == 0 ? new ListRequest() : new ListRequest { LabelSelector = { ["fuzz"] = "yes" } };

    private DeleteRequest Delete(string kind, Random random, bool dryRun)
    {
        var name = PickName(kind, random);
        var version = random.Next(3) == 0 ? VersionOf(kind, name) : 0;
        return new DeleteRequest { Name = name, ResourceVersion = version, DryRun = dryRun };
    }

    private ApplyRequest Apply(Random random, bool dryRun)
    {
        var request = new ApplyRequest { DryRun = dryRun };
        var pool = NewPool(random);
        request.Resources.Add(Resources.R(pool));
        if (random.Next(2) == 0)
        {
            request.Resources.Add(Resources.R(Resources.Backend(NewName("backend"), pool.Metadata.Name, "10.9.9.9:80")));
        }
        if (Changed(Pick(_pools, random), random) is { } existing)
        {
            if (random.Next(2) == 0)
            {
                existing.Metadata.ResourceVersion = 0;
            }
            request.Resources.Add(Resources.R(existing));
        }
        return request;
    }

    private string PickName(string kind, Random random)
    {
        IReadOnlyCollection<string> names = kind switch
        {
            "Pool" => _pools.Keys,
            "Backend" => _backends.Keys,
            "Listener" => _listeners.Keys,
            "Certificate" => _certificates.Keys,
            _ => [],
        };
        return names.Count == 0 ? "fz-missing" : names.ElementAt(random.Next(names.Count));
    }

    private long VersionOf(string kind, string name) => kind switch
    {
        "Pool" => _pools.GetValueOrDefault(name)?.Metadata.ResourceVersion ?? 0,
        "Backend" => _backends.GetValueOrDefault(name)?.Metadata.ResourceVersion ?? 0,
        "Listener" => _listeners.GetValueOrDefault(name)?.Metadata.ResourceVersion ?? 0,
        "Certificate" => _certificates.GetValueOrDefault(name)?.Metadata.ResourceVersion ?? 0,
        _ => 0,
    };

    private static T? Pick<T>(Dictionary<string, T> items, Random random) where T : class, IMessage<T> =>
        items.Count == 0 ? null : items.Values.ElementAt(random.Next(items.Count)).Clone();

    /// <summary>A copy of an existing resource, with its resourceVersion, status cleared and a label (or the key) changed.</summary>
    private T? Changed<T>(T? resource, Random random) where T : class, IMessage<T>
    {
        if (resource is null)
        {
            return null;
        }
        resource.Descriptor.FindFieldByName("status").Accessor.Clear(resource);
        var metadata = (ObjectMeta)resource.Descriptor.FindFieldByName("metadata").Accessor.GetValue(resource);
        if (random.Next(3) > 0)
        {
            metadata.Labels["fuzz"] = random.Next(2) == 0 ? "yes" : $"v{random.Next(100)}";
        }
        switch (resource)
        {
            case Certificate certificate when random.Next(2) == 0 && _keysByCertificate.TryGetValue(certificate.Spec.CertificatePem, out var key):
                certificate.Spec.PrivateKeyPem = key;
                break;
            case Certificate certificate when random.Next(2) == 0:
                var pair = _pairs[random.Next(_pairs.Count)];
                certificate.Spec.CertificatePem = pair.CertificatePem;
                certificate.Spec.PrivateKeyPem = pair.PrivateKeyPem;
                break;
            case Backend backend:
                backend.Spec.Weight = random.Next(1, 1001);
                break;
        }
        return resource;
    }

    private static void Replace<T>(Dictionary<string, T> target, IEnumerable<T> items, Func<T, string> name)
    {
        target.Clear();
        foreach (var item in items)
        {
            target[name(item)] = item;
        }
    }
}
