using Hoop.Silo.Cli;

return await SiloCli.RunAsync(args, Console.Out, Console.Error, CancellationToken.None);
