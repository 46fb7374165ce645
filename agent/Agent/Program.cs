using LoadBalancer.Agent.Hosting;

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
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
builder.Services.AddAgent(options);

var app = builder.Build();
app.MapAdmin();
await app.RunAsync();
return 0;
