// A sample backend for the demo and the end-to-end tests: it says who it is.
// Usage: lb-sample-backend --name NAME --port PORT [--mode http|tcp-echo]
var argsMap = LoadBalancer.SampleBackend.Args.Parse(args);
var name = argsMap.GetValueOrDefault("name", "backend");
var port = int.Parse(argsMap.GetValueOrDefault("port", "9101"), System.Globalization.CultureInfo.InvariantCulture);
var host = argsMap.GetValueOrDefault("host", "127.0.0.1");

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseUrls($"http://{host}:{port}");
var app = builder.Build();

var healthy = true;
app.MapGet("/healthz", () => healthy ? Results.Ok("ok") : Results.StatusCode(503));
app.MapPost("/admin/health/{state}", (string state) => { healthy = state == "up"; return Results.Ok(state); });
app.MapGet("/slow/{ms:int}", async (int ms, HttpContext ctx) =>
{
    await Task.Delay(ms, ctx.RequestAborted);
    return Results.Text($"{name} slow {ms}\n");
});
app.Map("/{**path}", (HttpContext ctx) =>
{
    ctx.Response.Headers["X-Backend"] = name;
    return Results.Text($"{name} {ctx.Request.Method} {ctx.Request.Host} {ctx.Request.Path}\n");
});
app.Run();

namespace LoadBalancer.SampleBackend
{
    internal static class Args
    {
        public static Dictionary<string, string> Parse(string[] args)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                map[args[i].TrimStart('-')] = args[i + 1];
            }
            return map;
        }
    }
}
