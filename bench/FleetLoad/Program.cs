using System.Globalization;
using LoadBalancer.Bench.FleetLoad;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
FleetOptions options;
try
{
    options = FleetOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(FleetOptions.Usage);
    return 2;
}
// Thousands of streams start at once: without spare pool threads their first awaits queue up.
ThreadPool.SetMinThreads(Math.Max(Environment.ProcessorCount * 4, 16), Environment.ProcessorCount * 4);
using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupted.Cancel();
};
await using var target = await ControlPlaneTarget.AttachOrStartAsync(options, interrupted.Token).ConfigureAwait(false);
var report = await new FleetRun(options, target, Console.Out).RunAsync(interrupted.Token).ConfigureAwait(false);
report.Print(Console.Out);
return report.Passed ? 0 : 1;
