using LoadBalancer.Cli.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};
return await LbctlApp.RunAsync(args, CliEnvironment.FromProcess(), cancellation.Token);
