using BenchmarkDotNet.Running;
using Hoop.Benchmarks.EventStore;

// hoop benchmarks:
//   append --conn CONNSTR [--seconds N]   load figures for the event store (deploy/bench.sh)
//   micro [BenchmarkDotNet args]          BenchmarkDotNet micro-benchmarks
return args.FirstOrDefault() switch
{
    "append" => await AppendLoad.RunAsync(args[1..], Console.Out),
    "micro" => RunMicro(args[1..]),
    _ => Usage(),
};

static int RunMicro(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(AppendLoad).Assembly).Run(args);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Hoop.Benchmarks append --conn CONNSTR [--seconds N] | micro [BenchmarkDotNet args]");
    return 2;
}
