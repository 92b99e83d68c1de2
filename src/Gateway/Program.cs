using Hoop.Gateway;

// hoop-gateway: configuration from appsettings, environment (ConnectionStrings__Hoop, Hoop__Orleans__*,
// Hoop__PolicyFile, Hoop__Auth__*) and --Key=value options; --urls http://127.0.0.1:5600.
// Bad configuration stops it before it serves anything: a message naming the key, exit code 2.
WebApplication app;
try
{
    app = GatewayHost.Build(args);
    await app.StartAsync();
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"hoop-gateway: {e.Message}");
    return 2;
}

await app.WaitForShutdownAsync();
return 0;
