using System.Runtime.InteropServices;
using Hoop.Fakes.Cli;

// Ctrl-C and SIGTERM stop a running fake cleanly (deploy/up.sh and deploy/down.sh rely on it).
using var stop = new CancellationTokenSource();
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

return await FakesCli.RunAsync(args, Console.Out, Console.Error, stop.Token);
