using BenchmarkDotNet.Running;
using Hoop.Benchmarks.EventStore;
using Hoop.Benchmarks.Gateway;
using Hoop.Benchmarks.Masking;
using Hoop.Benchmarks.Projections;
using Hoop.Benchmarks.Silo;

// hoop benchmarks:
//   append --conn CONNSTR [--seconds N] [--group-writers N]   load figures for the event store (deploy/bench.sh)
//   silo --conn CONNSTR --policy FILE [--calls N] [--approvals N] [--activations 11] [--activation-exchanges 25000]
//                                         grain call round trip, cross-silo approval release, activation of a
//                                         100,000-event session (full fold, then snapshot + tail; --activations 0: skip)
//   projections --conn CONNSTR [--events N] [--seconds N] [--writers W]
//                                         synthetic history, rebuild throughput, daemon lag under load
//   gateway --direct URL --gateway URL [--nginx URL] --agent-token JWT --upstream-key KEY [--seconds N] [--connections 32]
//                                         the same requests direct, through nginx and through the gateway
//   streams --gateway URL --agent-token JWT --pid PID [--streams 1000] [--chunk-delay-ms 1000] [--ramp-ms 10000]
//                                         gateway RSS with that many slow streams open at once
//   failover --gateway URL --agent-token JWT --kill-pid PID [--sessions 64] [--limit-s 30]
//                                         kill -9 of a silo under load: time until every session answers again
//   rebuild-live --conn CONNSTR --admin-token JWT --gateway URL --agent-token JWT [--api URL] [--events N]
//                [--projection audit_log] [--connections 8]
//                                         zero-downtime rebuild on the running stack: queries and gateway
//                                         traffic throughout, lag back to 0 after the switch
//   mask [--seconds N]                   masking throughput (MB/s) and added time per streamed chunk, one thread
//   disk --dir DIR [--flushes 1000]      write + fsync of 2 kB, back to back and about 1 ms apart (what a commit waits for)
//   micro [BenchmarkDotNet args]          BenchmarkDotNet micro-benchmarks
return args.FirstOrDefault() switch
{
    "append" => await AppendLoad.RunAsync(args[1..], Console.Out),
    "silo" => await SiloLoad.RunAsync(args[1..], Console.Out),
    "gateway" => await GatewayLoad.RunAsync(args[1..], Console.Out),
    "projections" => await ProjectionLoad.RunAsync(args[1..], Console.Out),
    "mask" => await MaskLoad.RunAsync(args[1..], Console.Out),
    "disk" => DiskFlushLoad.Run(args[1..], Console.Out),
    "streams" => await StreamsLoad.RunAsync(args[1..], Console.Out),
    "failover" => await FailoverLoad.RunAsync(args[1..], Console.Out),
    "rebuild-live" => await RebuildLiveLoad.RunAsync(args[1..], Console.Out),
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
    Console.Error.WriteLine("usage: Hoop.Benchmarks append --conn CONNSTR [--seconds N] [--group-writers N] | silo --conn CONNSTR --policy FILE [--activations N] | projections --conn CONNSTR [--events N] [--seconds N] | gateway --direct URL --gateway URL [--nginx URL] --agent-token JWT --upstream-key KEY [--seconds N] [--connections 32] (gateway --help for more) | streams --gateway URL --agent-token JWT --pid PID [--streams 1000] | failover --gateway URL --agent-token JWT --kill-pid PID [--sessions 64] | rebuild-live --conn CONNSTR --admin-token JWT --gateway URL --agent-token JWT [--events N] | mask [--seconds N] | disk --dir DIR [--flushes N] | micro [BenchmarkDotNet args]");
    return 2;
}
