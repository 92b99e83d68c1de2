using Npgsql;

namespace Hoop.Testing;

/// <summary>Searches a whole database for strings: what the secret scans and the retention tests assert on.</summary>
public static class DatabaseSearch
{
    /// <summary>
    /// Which of <paramref name="secrets"/> some row of the database holds: every table of every schema (events,
    /// projections, retention, reminders, checkpoints, …), every text, character, json, jsonb, array and bytea column
    /// (bytea searched for the UTF-8 bytes), found through information_schema. Each hit is named "schema.table.column: secret".
    /// </summary>
    public static async Task<IReadOnlyList<string>> FindAsync(string connectionString, IReadOnlyCollection<string> secrets)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var columns = new List<(string Schema, string Table, string Column, bool Bytes)>();
        await using (var list = new NpgsqlCommand(
            """
            SELECT c.table_schema, c.table_name, c.column_name, c.data_type = 'bytea'
            FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE t.table_type = 'BASE TABLE'
              AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
              AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED', 'bytea')
            ORDER BY 1, 2, 3
            """, connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                columns.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3)));
        }

        if (columns.Count == 0)
            throw new InvalidOperationException("information_schema lists no text columns: the search would find nothing.");
        var found = new List<string>();
        foreach (var (schema, table, column, bytes) in columns)
        {
            var match = bytes ? $"position(convert_to(s, 'UTF8') IN {Quote(column)})" : $"position(s IN {Quote(column)}::text)";
            var sql = $"SELECT s FROM unnest(@secrets) AS s WHERE EXISTS (SELECT 1 FROM {Quote(schema)}.{Quote(table)} WHERE {match} > 0)";
            await using var search = new NpgsqlCommand(sql, connection);
            search.Parameters.AddWithValue("secrets", secrets.ToArray());
            await using var reader = await search.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                found.Add($"{schema}.{table}.{column}: {reader.GetString(0)}");
        }

        return found;
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
