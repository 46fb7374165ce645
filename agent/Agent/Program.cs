using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Hosting;
using LoadBalancer.Common.Versioning;

// Socket completions run inline on the socket engine's threads (one per core), with Kestrel's
// pipes scheduled inline too (AgentServiceExtensions): a proxied request is then served without
// a thread-pool hop at each read and write, which measured 35-40% less CPU per request
// (docs/agent-performance.md). Set before the first socket exists; "0" in the environment keeps
// the runtime's default.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// Before the parser, which would ask for the required --control-plane and --tier first.
if (BuildInfo.Of<AgentOptions>().TryPrintVersion(args, "lb-agent", Console.Out))
{
    return 0;
}

var (options, exitCode) = AgentCommandLine.Parse(args);
if (options is null)
{
    return exitCode;
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrls(options.AdminUrl);
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
builder.Logging.AddFilter("Yarp", LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Logging.ClearProviders();
if (options.JsonLogs)
{
    builder.Logging.AddJsonConsole(o =>
    {
        o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
        o.UseUtcTimestamp = true;
    });
}
else
{
    builder.Logging.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss.fff ";
    });
}
// The access log is its own category, on only when asked for.
builder.Logging.AddFilter("LoadBalancer.Agent.AccessLog", options.AccessLog ? LogLevel.Information : LogLevel.None);
builder.Services.AddAgent(options);

var app = builder.Build();
app.MapAdmin();
await app.RunAsync();
return 0;
