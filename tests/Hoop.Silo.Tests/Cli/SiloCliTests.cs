using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Cli;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Cli;

public sealed class SiloCliTests(PostgresFixture db) : IClassFixture<PostgresFixture>
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await SiloCli.RunAsync(args, stdout, stderr, timeout.Token);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Serve_against_an_empty_database_fails_with_a_clear_message()
    {
        await using var empty = new IsolatedDatabase(db);
        await empty.RawDataSourceAsync();
        using var tokens = new TokenFactory();
        using var keys = new TempDirectory();
        var settings = TokenFactory.AuthConfiguration(tokens.WritePublicKeyPem(keys.Path))
            .Select(kv => $"--{kv.Key}={kv.Value}")
            .Append($"--Hoop:Policy={Grains.TestSilo.Policy}");

        var (code, _, err) = await Run(["serve", $"--ConnectionStrings:Hoop={empty.ConnectionString}", "--urls", "http://127.0.0.1:0", .. settings]);

        Assert.Equal(SiloCli.Unusable, code);
        Assert.Contains("no Hoop schema", err, StringComparison.Ordinal);
        Assert.Contains("hoop-silo migrate", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_with_a_bad_policy_file_stops_with_a_message_naming_the_key()
    {
        await using var own = new IsolatedDatabase(db);
        await own.StoreAsync();
        using var tokens = new TokenFactory();
        using var dir = new TempDirectory();
        var policy = dir.File("policy.json");
        await File.WriteAllTextAsync(policy, Grains.TestSilo.Policy.Replace("drop table|rm -rf /", "drop (table", StringComparison.Ordinal));
        var settings = TokenFactory.AuthConfiguration(tokens.WritePublicKeyPem(dir.Path)).Select(kv => $"--{kv.Key}={kv.Value}");

        var (code, _, err) = await Run(["serve", $"--ConnectionStrings:Hoop={own.ConnectionString}", $"--Hoop:PolicyFile={policy}",
            "--urls", "http://127.0.0.1:0", .. settings]);

        Assert.Equal(SiloCli.Unusable, code);
        Assert.Contains("Hoop:PolicyFile", err, StringComparison.Ordinal);
        Assert.Contains("rules[0].match.regex", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_or_malformed_connection_string_names_the_key()
    {
        var missing = await Run("migrate", "--ConnectionStrings:Hoop=");
        var malformed = await Run("migrate", "--ConnectionStrings:Hoop=Host=127.0.0.1;Bogus Key=1");

        Assert.Equal(SiloCli.Unusable, missing.Code);
        Assert.Contains("ConnectionStrings:Hoop is not set", missing.Err, StringComparison.Ordinal);
        Assert.Equal(SiloCli.Unusable, malformed.Code);
        Assert.Contains("ConnectionStrings:Hoop is not a valid", malformed.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_database_is_a_clear_error_not_a_crash()
    {
        var (code, _, err) = await Run("migrate", "--ConnectionStrings:Hoop=Host=127.0.0.1;Port=1;Username=postgres;Timeout=2");

        Assert.Equal(SiloCli.Unusable, code);
        Assert.Contains("cannot use the database", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_then_verify_then_timeline()
    {
        await using var own = new IsolatedDatabase(db);
        await own.RawDataSourceAsync();
        var connection = $"--ConnectionStrings:Hoop={own.ConnectionString}";

        var migrate = await Run("migrate", connection);
        var again = await Run("migrate", connection);
        var store = await own.StoreAsync();
        await store.AppendAsync("session-cli1", 0, [new SessionOpened("cli1", "alice", "claude"), new SessionClosed("done")], EventMetadata.None);
        var verify = await Run("verify", connection);
        // The timeline opens sealed content, so it needs the master key (docs/retention.md).
        var masterKey = $"--Hoop:Retention:MasterKey={TokenFactory.TestMasterKey}";
        var timeline = await Run("timeline", "cli1", connection, masterKey);
        var missing = await Run("timeline", "nope", connection, masterKey);

        Assert.Equal((SiloCli.Ok, SiloCli.Ok), (migrate.Code, again.Code));
        Assert.Contains("Applied migrations 1, 2", migrate.Out, StringComparison.Ordinal);
        Assert.Contains("nothing to do", again.Out, StringComparison.Ordinal);
        Assert.Equal(SiloCli.Ok, verify.Code);
        Assert.Contains("OK: 1 streams, 2 events", verify.Out, StringComparison.Ordinal);
        Assert.Equal(SiloCli.Ok, timeline.Code);
        var lines = timeline.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains("SessionOpened", lines[0], StringComparison.Ordinal);
        Assert.Contains("SessionClosed", lines[1], StringComparison.Ordinal);
        Assert.Equal(SiloCli.Failed, missing.Code);
    }

    [Fact]
    public async Task Verify_reports_a_broken_chain_with_exit_code_one()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync();
        await store.AppendAsync("session-t", 0, [new SessionClosed("a"), new SessionClosed("b")], EventMetadata.None);
        await own.ExecuteAsync("SET session_replication_role = replica; UPDATE hoop_events.mt_events SET headers = '{\"identity\":\"mallory\"}' WHERE version = 2");

        var (code, stdout, _) = await Run("verify", $"--ConnectionStrings:Hoop={own.ConnectionString}");

        Assert.Equal(SiloCli.Failed, code);
        Assert.Contains("BROKEN: stream session-t version 2", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rebuild_shows_progress_as_plain_lines_and_swaps_the_projection_in()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync();
        var history = new SyntheticHistory(store, "cli");
        var random = new Random(2);
        for (var i = 0; i < 20; i++)
            await history.AppendSessionAsync($"cli-{i}", random, 10);
        var connection = $"--ConnectionStrings:Hoop={own.ConnectionString}";

        var rebuild = await Run("rebuild", "session_summaries", connection, "--Hoop:Projections:RebuildBatchSize=100");
        var unknown = await Run("rebuild", "nope", connection);
        var verify = await Run("verify", connection);

        Assert.Equal(SiloCli.Ok, rebuild.Code);
        Assert.Contains("OK: session_summaries rebuilt and swapped in", rebuild.Out, StringComparison.Ordinal);
        Assert.Matches(@"rebuild session_summaries: +[0-9,]+ / [0-9,]+ events +\d+% +[0-9,]+ events/s +ETA ", rebuild.Err);
        Assert.DoesNotContain("\r", rebuild.Err, StringComparison.Ordinal);
        await using (var count = (await own.RawDataSourceAsync()).CreateCommand("SELECT count(*) FROM hoop.session_summaries"))
            Assert.Equal(20L, await count.ExecuteScalarAsync());
        Assert.Equal(SiloCli.Unusable, unknown.Code);
        Assert.Contains("known: session_summaries, audit_log, identity_activity", unknown.Err, StringComparison.Ordinal);
        Assert.Equal(SiloCli.Ok, verify.Code);
        Assert.Matches(@"verify: +[0-9,]+ / [0-9,]+ events", verify.Err);
    }

    [Fact]
    public async Task Unknown_command_prints_usage_and_exit_code_two()
    {
        var (code, _, err) = await Run("frobnicate");
        Assert.Equal(SiloCli.Unusable, code);
        Assert.Contains("usage: hoop-silo", err, StringComparison.Ordinal);
    }
}
