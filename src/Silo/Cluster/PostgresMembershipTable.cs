using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using NpgsqlTypes;
using Orleans.Configuration;
using Microsoft.Extensions.Options;

namespace Hoop.Silo.Cluster;

/// <summary>
/// Orleans' cluster membership in PostgreSQL (schema <c>hoop_cluster</c>, migration 4): one version row per
/// cluster id, whose version doubles as the table's etag, and one row per silo with its own etag. Inserting
/// or updating a silo's row bumps the version in the same transaction; a writer that read a stale version
/// or row etag loses and Orleans re-reads and tries again. Store failures surface as
/// <see cref="Hoop.Contracts.EventStore.EventStoreUnavailableException"/> (serializable, no driver exception inside).
/// </summary>
public sealed class PostgresMembershipTable(NpgsqlDataSource dataSource, IOptions<ClusterOptions> clusterOptions) : IMembershipTable
{
    private readonly string _clusterId = clusterOptions.Value.ClusterId;

    public Task InitializeMembershipTable(bool tryInitTableVersion) => !tryInitTableVersion
        ? Task.CompletedTask
        : Run(async ct =>
        {
            await using var command = dataSource.CreateCommand(
                "INSERT INTO hoop_cluster.membership_versions (cluster_id, version) VALUES ($1, 0) ON CONFLICT DO NOTHING");
            command.Parameters.AddWithValue(_clusterId);
            await command.ExecuteNonQueryAsync(ct);
            return true;
        });

    public Task DeleteMembershipTableEntries(string clusterId) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand("DELETE FROM hoop_cluster.membership_versions WHERE cluster_id = $1");
        command.Parameters.AddWithValue(clusterId);
        await command.ExecuteNonQueryAsync(ct);
        return true;
    });

    /// <summary>Deletes the rows of silos declared dead that have not been alive since <paramref name="beforeDate"/>.</summary>
    public Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand(
            "DELETE FROM hoop_cluster.members WHERE cluster_id = $1 AND status = $2 AND i_am_alive < $3");
        command.Parameters.AddWithValue(_clusterId);
        command.Parameters.AddWithValue((int)SiloStatus.Dead);
        command.Parameters.AddWithValue(beforeDate.UtcDateTime);
        await command.ExecuteNonQueryAsync(ct);
        return true;
    });

    public Task<MembershipTableData> ReadRow(SiloAddress key) => ReadAsync(key);

    public Task<MembershipTableData> ReadAll() => ReadAsync(null);

    public Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion) => Run(async ct =>
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (!await BumpVersionAsync(connection, transaction, tableVersion, ct))
            return false;
        await using var insert = new NpgsqlCommand("""
            INSERT INTO hoop_cluster.members
                (cluster_id, address, status, proxy_port, host_name, silo_name, suspect_times, start_time, i_am_alive, etag)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)
            ON CONFLICT DO NOTHING
            """, connection, transaction);
        AddEntry(insert, entry);
        if (await insert.ExecuteNonQueryAsync(ct) != 1)
            return false;
        await transaction.CommitAsync(ct);
        return true;
    });

    public Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion) => Run(async ct =>
    {
        if (!int.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var rowEtag))
            return false;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (!await BumpVersionAsync(connection, transaction, tableVersion, ct))
            return false;
        await using var update = new NpgsqlCommand("""
            UPDATE hoop_cluster.members
               SET status = $3, proxy_port = $4, host_name = $5, silo_name = $6, suspect_times = $7,
                   start_time = $8, i_am_alive = $9, etag = etag + 1
             WHERE cluster_id = $1 AND address = $2 AND etag = $10
            """, connection, transaction);
        AddEntry(update, entry);
        update.Parameters.AddWithValue(rowEtag);
        if (await update.ExecuteNonQueryAsync(ct) != 1)
            return false;
        await transaction.CommitAsync(ct);
        return true;
    });

    /// <summary>A liveness heartbeat: changes neither the table version nor the row's etag.</summary>
    public Task UpdateIAmAlive(MembershipEntry entry) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand(
            "UPDATE hoop_cluster.members SET i_am_alive = $3 WHERE cluster_id = $1 AND address = $2");
        command.Parameters.AddWithValue(_clusterId);
        command.Parameters.AddWithValue(entry.SiloAddress.ToParsableString());
        command.Parameters.AddWithValue(DateTime.SpecifyKind(entry.IAmAliveTime, DateTimeKind.Utc));
        await command.ExecuteNonQueryAsync(ct);
        return true;
    });

    // The caller read version N (its etag) and asks for N+1; anyone who moved it first wins.
    private async Task<bool> BumpVersionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, TableVersion tableVersion, CancellationToken ct)
    {
        if (!int.TryParse(tableVersion.VersionEtag, NumberStyles.None, CultureInfo.InvariantCulture, out var read))
            return false;
        await using var bump = new NpgsqlCommand(
            "UPDATE hoop_cluster.membership_versions SET version = $2, updated_at = now() WHERE cluster_id = $1 AND version = $3",
            connection, transaction);
        bump.Parameters.AddWithValue(_clusterId);
        bump.Parameters.AddWithValue(tableVersion.Version);
        bump.Parameters.AddWithValue(read);
        return await bump.ExecuteNonQueryAsync(ct) == 1;
    }

    private async Task<MembershipTableData> ReadAsync(SiloAddress? key) => await Run(async ct =>
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // One snapshot for the version and the rows.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await using var version = new NpgsqlCommand(
            "SELECT version FROM hoop_cluster.membership_versions WHERE cluster_id = $1", connection, transaction);
        version.Parameters.AddWithValue(_clusterId);
        var current = await version.ExecuteScalarAsync(ct) is int v ? v : 0;
        var tableVersion = new TableVersion(current, current.ToString(CultureInfo.InvariantCulture));

        await using var rows = new NpgsqlCommand(key is null
            ? "SELECT address, status, proxy_port, host_name, silo_name, suspect_times, start_time, i_am_alive, etag FROM hoop_cluster.members WHERE cluster_id = $1"
            : "SELECT address, status, proxy_port, host_name, silo_name, suspect_times, start_time, i_am_alive, etag FROM hoop_cluster.members WHERE cluster_id = $1 AND address = $2",
            connection, transaction);
        rows.Parameters.AddWithValue(_clusterId);
        if (key is not null)
            rows.Parameters.AddWithValue(key.ToParsableString());
        var members = new List<Tuple<MembershipEntry, string>>();
        await using (var reader = await rows.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var entry = new MembershipEntry
                {
                    SiloAddress = SiloAddress.FromParsableString(reader.GetString(0)),
                    Status = (SiloStatus)reader.GetInt32(1),
                    ProxyPort = reader.GetInt32(2),
                    HostName = reader.GetString(3),
                    SiloName = reader.GetString(4),
                    SuspectTimes = reader.IsDBNull(5) ? null : ReadSuspects(reader.GetString(5)),
                    StartTime = DateTime.SpecifyKind(reader.GetDateTime(6), DateTimeKind.Utc),
                    IAmAliveTime = DateTime.SpecifyKind(reader.GetDateTime(7), DateTimeKind.Utc),
                };
                members.Add(Tuple.Create(entry, reader.GetInt32(8).ToString(CultureInfo.InvariantCulture)));
            }
        }

        await transaction.CommitAsync(ct);
        return new MembershipTableData(members, tableVersion);
    });

    private void AddEntry(NpgsqlCommand command, MembershipEntry entry)
    {
        command.Parameters.AddWithValue(_clusterId);
        command.Parameters.AddWithValue(entry.SiloAddress.ToParsableString());
        command.Parameters.AddWithValue((int)entry.Status);
        command.Parameters.AddWithValue(entry.ProxyPort);
        command.Parameters.AddWithValue(entry.HostName ?? "");
        command.Parameters.AddWithValue(entry.SiloName ?? "");
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Json, Value = WriteSuspects(entry.SuspectTimes) ?? (object)DBNull.Value });
        command.Parameters.AddWithValue(DateTime.SpecifyKind(entry.StartTime, DateTimeKind.Utc));
        command.Parameters.AddWithValue(DateTime.SpecifyKind(entry.IAmAliveTime, DateTimeKind.Utc));
    }

    private static string? WriteSuspects(List<Tuple<SiloAddress, DateTime>>? suspects) => suspects is null
        ? null
        : JsonSerializer.Serialize(
            suspects.Select(s => new SuspectVote(s.Item1.ToParsableString(), DateTime.SpecifyKind(s.Item2, DateTimeKind.Utc))).ToArray(),
            MembershipJsonContext.Default.SuspectVoteArray);

    private static List<Tuple<SiloAddress, DateTime>> ReadSuspects(string json) =>
        (JsonSerializer.Deserialize(json, MembershipJsonContext.Default.SuspectVoteArray) ?? [])
            .Select(v => Tuple.Create(SiloAddress.FromParsableString(v.Silo), DateTime.SpecifyKind(v.At, DateTimeKind.Utc)))
            .ToList();

    // Bounded, so a membership call fails fast (and Orleans retries) rather than hanging on a dead database.
    private static async Task<T> Run<T>(Func<CancellationToken, Task<T>> call)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await call(timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException || (e is OperationCanceledException && timeout.IsCancellationRequested))
        {
            throw new Hoop.Contracts.EventStore.EventStoreUnavailableException($"Cluster membership table unavailable: {e.GetType().Name}");
        }
    }
}

internal sealed record SuspectVote(string Silo, DateTime At);

[JsonSerializable(typeof(SuspectVote[]))]
internal sealed partial class MembershipJsonContext : JsonSerializerContext;
