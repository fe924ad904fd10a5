using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// The tiers' SQL, derived from <see cref="TierFields"/> (identifiers only; every value is a bound
/// parameter named after its column), and the reads of their columns by kind.
/// </summary>
internal static class TierSql
{
    public static string Columns(IEnumerable<TierField> fields, string prefix = "") =>
        string.Join(", ", fields.Select(f => prefix + f.Name));

    public static string SelectDefaults(TierTable tier) => $"SELECT {Columns(tier.Fields)}, updated_at FROM {tier.Table} WHERE id = 1";

    /// <summary>Sets <paramref name="fields"/> and updated_at of the defaults row; returns the whole row.</summary>
    public static string UpdateDefaults(TierTable tier, IEnumerable<TierField> fields) =>
        $"UPDATE {tier.Table} SET {string.Join(", ", fields.Select(f => $"{f.Name} = ${f.Name}"))}, updated_at = $updated_at"
        + $" WHERE id = 1 RETURNING {Columns(tier.Fields)}, updated_at";

    public static string SelectOverrides(TierTable tier) =>
        $"SELECT {Columns(tier.Overridable)} FROM {tier.OverrideTable} WHERE {tier.OverrideKey} = $id";

    /// <summary>Replaces the override row of parent $id; inserts nothing when the parent does not exist.</summary>
    public static string UpsertOverrides(TierTable tier) =>
        $"INSERT INTO {tier.OverrideTable}({tier.OverrideKey}, {Columns(tier.Overridable)})"
        + $" SELECT id, {Columns(tier.Overridable, "$")} FROM {tier.ParentTable} WHERE id = $id"
        + $" ON CONFLICT({tier.OverrideKey}) DO UPDATE SET {string.Join(", ", tier.Overridable.Select(f => $"{f.Name} = excluded.{f.Name}"))}";

    public static (string Name, object? Value)[] Parameters(IReadOnlyList<TierField> fields, object?[] values) =>
        [.. fields.Select((f, i) => ("$" + f.Name, values[i]))];

    /// <summary>The columns of <paramref name="fields"/> starting at <paramref name="at"/>, as long/bool/double/string or null.</summary>
    public static object?[] Read(SqliteDataReader reader, int at, IReadOnlyList<TierField> fields)
    {
        var values = new object?[fields.Count];
        for (var i = 0; i < values.Length; i++) values[i] = Read(reader, at + i, fields[i].Kind);
        return values;
    }

    public static object? Read(SqliteDataReader reader, int i, ColumnKind kind) =>
        reader.IsDBNull(i) ? null : kind switch
        {
            ColumnKind.Int => reader.GetInt64(i),
            ColumnKind.Bool => reader.GetInt64(i) != 0,
            ColumnKind.Real => reader.GetDouble(i),
            _ => reader.GetString(i),
        };

    // ---- schema ----

    static string SqlType(ColumnKind kind) => kind switch { ColumnKind.Real => "REAL", ColumnKind.Text => "TEXT", _ => "INTEGER" };

    static string DefaultsColumn(TierField f) => f.Inherits ? $"{f.Name} {SqlType(f.Kind)}" : $"{f.Name} {SqlType(f.Kind)} NOT NULL";

    /// <summary>The defaults table and its seeded row, and the override table (columns nullable: null = inherit).</summary>
    public static string Create(TierTable tier)
    {
        var sql = $"""
            CREATE TABLE {tier.Table}(
                id INTEGER PRIMARY KEY CHECK (id = 1),
                {string.Join(",\n    ", tier.Fields.Select(DefaultsColumn))},
                updated_at TEXT NOT NULL);
            INSERT INTO {tier.Table}(id, {Columns(tier.Fields)}, updated_at)
                VALUES(1, {string.Join(", ", tier.Fields.Select(f => f.Seed))}, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

            """;
        if (tier.OverrideTable is null) return sql;
        return sql + $"""
            CREATE TABLE {tier.OverrideTable}(
                {tier.OverrideKey} INTEGER PRIMARY KEY REFERENCES {tier.ParentTable}(id) ON DELETE CASCADE,
                {string.Join(",\n    ", tier.Overridable.Select(f => $"{f.Name} {SqlType(f.Kind)}"))});

            """;
    }

    /// <summary>
    /// ALTER TABLE ... ADD COLUMN for every field the database lacks (a field added to
    /// <see cref="TierFields"/> after the database was made): the defaults row gets the seed, the
    /// override rows null (inherit).
    /// </summary>
    public static List<string> AddMissingColumns(SqliteConnection connection, SqliteTransaction tx, TierTable tier)
    {
        var sql = new List<string>();
        var have = Columns(connection, tx, tier.Table);
        foreach (var f in tier.Fields.Where(f => !have.Contains(f.Name)))
            sql.Add(f.Inherits
                ? $"ALTER TABLE {tier.Table} ADD COLUMN {f.Name} {SqlType(f.Kind)}"
                : $"ALTER TABLE {tier.Table} ADD COLUMN {f.Name} {SqlType(f.Kind)} NOT NULL DEFAULT {f.Seed}");
        if (tier.OverrideTable is null) return sql;
        have = Columns(connection, tx, tier.OverrideTable);
        foreach (var f in tier.Overridable.Where(f => !have.Contains(f.Name)))
            sql.Add($"ALTER TABLE {tier.OverrideTable} ADD COLUMN {f.Name} {SqlType(f.Kind)}");
        return sql;
    }

    /// <summary>The table's column names (one pragma query).</summary>
    static HashSet<string> Columns(SqliteConnection connection, SqliteTransaction tx, string table)
    {
        using var command = connection.Command("SELECT name FROM pragma_table_info($table)", ("$table", table));
        command.Transaction = tx;
        return [.. command.ReadAll(r => r.GetString(0))];
    }
}
