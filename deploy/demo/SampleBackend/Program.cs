// A sample backend for the demo and the end-to-end tests: it says who it is.
// Usage: lb-sample-backend --name NAME --port PORT [--host ADDRESS] [--mode http|tcp] [--tls-cert F --tls-key F]
//   http: answers every path with "NAME METHOD HOST PATH" and an X-Backend header;
//         /healthz answers 200 (503 after POST /admin/health/down, 10 s late after .../slow);
//         /slow/MS waits MS ms.
//   tcp:  writes "NAME\n" on connect, then echoes every byte back until the client closes.
using System.Globalization;
using System.Net;
using System.Net.Sockets;

var options = LoadBalancer.SampleBackend.Args.Parse(args);
var name = options.GetValueOrDefault("name", "backend");
var port = int.Parse(options.GetValueOrDefault("port", "9101"), CultureInfo.InvariantCulture);
var host = options.GetValueOrDefault("host", "127.0.0.1");

if (options.GetValueOrDefault("mode", "http") == "tcp")
{
    await LoadBalancer.SampleBackend.TcpEcho.RunAsync(name, IPAddress.Parse(host), port);
    return;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
if (options.TryGetValue("tls-cert", out var tlsCert) && options.TryGetValue("tls-key", out var tlsKey))
{
    // HTTPS backend, for pools with protocol https; PEM keys are ephemeral, so go through PKCS#12.
    using var pem = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(tlsCert, tlsKey);
    var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
    builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Parse(host), port, listen => listen.UseHttps(certificate)));
}
else
{
    builder.WebHost.UseUrls($"http://{host}:{port}");
}
var app = builder.Build();

// POST /admin/health/up|down|slow: healthy, 503, or a health answer that takes 10 seconds.
var health = "up";
app.MapGet("/healthz", async (HttpContext context) =>
{
    switch (health)
    {
        case "down":
            return Results.Text("down\n", statusCode: 503);
        case "slow":
            await Task.Delay(10_000, context.RequestAborted);
            return Results.Text("slow\n");
        default:
            return Results.Text("ok\n");
    }
});
app.MapPost("/admin/health/{state}", (string state) =>
{
    health = state is "down" or "slow" ? state : "up";
    return Results.Text(health + "\n");
});
app.MapGet("/slow/{ms:int}", async (int ms, HttpContext context) =>
{
    context.Response.Headers["X-Backend"] = name;
    await Task.Delay(ms, context.RequestAborted);
    return Results.Text($"{name} slow {ms}\n");
});
app.Map("/{**path}", (HttpContext context) =>
{
    context.Response.Headers["X-Backend"] = name;
    return Results.Text($"{name} {context.Request.Method} {context.Request.Host} {context.Request.Path}\n");
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

    internal static class TcpEcho
    {
        public static async Task RunAsync(string name, IPAddress address, int port)
        {
            using var listener = new TcpListener(address, port);
            listener.Start();
            var greeting = System.Text.Encoding.UTF8.GetBytes(name + "\n");
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync();
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        try
                        {
                            var stream = client.GetStream();
                            await stream.WriteAsync(greeting);
                            await stream.CopyToAsync(stream);
                        }
                        catch (IOException)
                        {
                            // The client went away.
                        }
                    }
                });
            }
        }
    }
}
