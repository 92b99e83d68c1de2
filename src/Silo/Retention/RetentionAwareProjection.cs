using Hoop.Contracts.Events;
using Hoop.Silo.Projections;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hoop.Silo.Retention;

/// <summary>
/// A projection that also follows retention: <see cref="MetadataExpired"/> removes the session's rows,
/// <see cref="IdentityErased"/> shows the identity as its pseudonym. Applied in log order between the wrapped
/// projection's own batches, so a rebuild from event 0 ends with the same rows.
/// </summary>
public class RetentionAwareProjection(IProjection inner) : IProjection
{
    public string Name => inner.Name;

    public IReadOnlySet<string> EventTypes { get; } =
        new HashSet<string>(inner.EventTypes.Concat([nameof(MetadataExpired), nameof(IdentityErased)]), StringComparer.Ordinal);

    public async Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken)
    {
        var run = new List<ProjectionEvent>(events.Count);
        foreach (var e in events)
        {
            if (e.Data is not (MetadataExpired or IdentityErased))
            {
                if (inner.EventTypes.Contains(e.Type))
                    run.Add(e);
                continue;
            }

            if (run.Count > 0)
                await inner.ApplyAsync(connection, table, run, cancellationToken);
            run.Clear();
            foreach (var sql in Statements(e.Data, table))
            {
                await using var command = new NpgsqlCommand(sql, connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = e.StreamKey });
                if (e.Data is IdentityErased erased)
                    command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = erased.Pseudonym });
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        if (run.Count > 0)
            await inner.ApplyAsync(connection, table, run, cancellationToken);
    }

    // $1: the session id (MetadataExpired) or the erased subject (IdentityErased); $2: the pseudonym.
    private string[] Statements(object data, string table) => (inner.Name, data) switch
    {
        (SessionSummariesProjection.ProjectionName, MetadataExpired) => [$"DELETE FROM {table} WHERE session_id = $1"],
        (SessionSummariesProjection.ProjectionName, IdentityErased) => [$"UPDATE {table} SET identity = $2 WHERE identity = $1"],
        (AuditLogProjection.ProjectionName, MetadataExpired) => [$"DELETE FROM {table} WHERE session_id = $1"],
        (AuditLogProjection.ProjectionName, IdentityErased) =>
        [
            $"""
            UPDATE {table} SET identity = CASE WHEN identity = $1 THEN $2 ELSE identity END,
                               actor = CASE WHEN actor = $1 THEN $2 ELSE actor END
            WHERE identity = $1 OR actor = $1
            """,
        ],
        (IdentityActivityProjection.ProjectionName, IdentityErased) =>
        [
            $"""
            INSERT INTO {table} AS t (identity, hour, requests, input_tokens, output_tokens, blocked, outside_working_hours)
            SELECT $2, hour, requests, input_tokens, output_tokens, blocked, outside_working_hours FROM {table} WHERE identity = $1
            ON CONFLICT (identity, hour) DO UPDATE SET requests = t.requests + EXCLUDED.requests,
                input_tokens = t.input_tokens + EXCLUDED.input_tokens, output_tokens = t.output_tokens + EXCLUDED.output_tokens,
                blocked = t.blocked + EXCLUDED.blocked
            """,
            $"DELETE FROM {table} WHERE identity = $1",
        ],
        _ => [],
    };
}

/// <summary>A <see cref="RetentionAwareProjection"/> registered by type (its wrapped projection's type shows in the registration).</summary>
public sealed class RetentionAwareProjection<T>(T inner) : RetentionAwareProjection(inner)
    where T : class, IProjection;

public static class RetentionProjectionServiceCollectionExtensions
{
    /// <summary>Wraps every registered <see cref="IProjection"/> in a <see cref="RetentionAwareProjection"/> (call after AddHoopProjections).</summary>
    public static IServiceCollection AddHoopRetentionProjections(this IServiceCollection services)
    {
        for (var i = 0; i < services.Count; i++)
        {
            var d = services[i];
            if (d.ServiceType != typeof(IProjection) || d.IsKeyedService)
                continue;
            if (d.ImplementationType is { } type)
            {
                services[i] = ServiceDescriptor.Singleton(typeof(IProjection), typeof(RetentionAwareProjection<>).MakeGenericType(type));
                services.Add(ServiceDescriptor.Singleton(type, type));
            }
            else
            {
                services[i] = ServiceDescriptor.Singleton<IProjection>(sp => new RetentionAwareProjection((IProjection)Create(sp, d)));
            }
        }

        return services;
    }

    internal static object Create(IServiceProvider sp, ServiceDescriptor d) =>
        d.ImplementationInstance ?? d.ImplementationFactory?.Invoke(sp) ?? ActivatorUtilities.CreateInstance(sp, d.ImplementationType!);
}
