using System.Text.Encodings.Web;
using System.Text.Json;
using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// One table of the backup document: its columns in document order (= the order of the
/// <see cref="IBackupRow.Values"/> of its row type). A singleton tier row (CHECK id = 1) is written
/// as one object without its fixed id; every other table as an array of rows, ids included.
/// </summary>
internal sealed record BackupTable(string Name, string Key, bool Singleton, (string Name, ColumnKind Kind)[] Columns)
{
    public string Select => $"SELECT {string.Join(", ", Columns.Select(c => c.Name))} FROM {Name} ORDER BY {Key}";

    public string Insert => Singleton
        ? $"INSERT INTO {Name}(id, {string.Join(", ", Columns.Select(c => c.Name))}) VALUES(1, {string.Join(", ", Columns.Select((_, i) => $"$p{i}"))})"
        : $"INSERT INTO {Name}({string.Join(", ", Columns.Select(c => c.Name))}) VALUES({string.Join(", ", Columns.Select((_, i) => $"$p{i}"))})";

    public JsonEncodedText[] Names { get; } = [.. Columns.Select(c => JsonEncodedText.Encode(c.Name))];

    /// <summary>For a tier table, the field behind each column (null for the key and updated_at).</summary>
    public TierField?[]? Fields { get; init; }
}

/// <summary>A document row: its column values in <see cref="BackupTable.Columns"/> order.</summary>
internal interface IBackupRow
{
    object?[] Values();
}

/// <summary>
/// Export and import of the data plane (section 14). Not included: api_tokens and
/// security_settings (credentials and access policy, not data). The SQL is generated once from the
/// column lists below (identifiers only; every value is a bound parameter).
/// </summary>
internal static class BackupStore
{
    const ColumnKind I = ColumnKind.Int, B = ColumnKind.Bool, R = ColumnKind.Real, T = ColumnKind.Text;

    public static readonly BackupTable Domains = new("domains", "id", false,
        [("id", I), ("name", T), ("active", B), ("outgoing_ip", T), ("created_at", T)]);

    public static readonly BackupTable Mailboxes = new("mailboxes", "id", false,
        [("id", I), ("domain_id", I), ("username", T), ("password_hash", T), ("quota", I), ("active", B), ("created_at", T)]);

    public static readonly BackupTable Aliases = new("aliases", "id", false,
        [("id", I), ("domain_id", I), ("source", T), ("destination", T), ("created_at", T)]);

    // The tier tables' columns come from Core/TierFields.cs: a singleton row's fields plus updated_at,
    // an override row's key plus the overridable fields.
    public static readonly BackupTable GlobalConfig = Defaults(TierFields.Global);
    public static readonly BackupTable DomainDefaults = Defaults(TierFields.Domain);
    public static readonly BackupTable MailboxDefaults = Defaults(TierFields.Mailbox);
    public static readonly BackupTable DomainOverrides = Overrides(TierFields.Domain);
    public static readonly BackupTable MailboxOverrides = Overrides(TierFields.Mailbox);

    static BackupTable Defaults(TierTable tier) =>
        new(tier.Table, "id", true, [.. tier.Fields.Select(f => (f.Name, f.Kind)), ("updated_at", T)]) { Fields = [.. tier.Fields, null] };

    static BackupTable Overrides(TierTable tier) =>
        new(tier.OverrideTable!, tier.OverrideKey!, false, [(tier.OverrideKey!, I), .. tier.Overridable.Select(f => (f.Name, f.Kind))])
        { Fields = [null, .. tier.Overridable] };

    public static readonly BackupTable TlsCerts = new("tls_certs", "id", false,
        [("id", I), ("hostname", T), ("cert_path", T), ("key_path", T), ("issuer", T), ("expires_at", T), ("created_at", T)]);

    public static readonly BackupTable DkimKeys = new("dkim_keys", "id", false,
        [("id", I), ("domain", T), ("selector", T), ("private_key_path", T), ("dns_record", T), ("created_at", T)]);

    public static readonly BackupTable AntispamWhitelist = new("antispam_whitelist", "id", false,
        [("id", I), ("entry_type", T), ("value", T), ("note", T), ("created_at", T)]);

    static object?[] Values<T>(DefaultsRow<T> tier, T row, string? updatedAt) where T : class => [.. tier.Values(row), updatedAt];

    /// <summary>Document order.</summary>
    static readonly BackupTable[] Tables =
        [Domains, Mailboxes, Aliases, GlobalConfig, DomainDefaults, MailboxDefaults, DomainOverrides, MailboxOverrides,
         TlsCerts, DkimKeys, AntispamWhitelist];

    /// <summary>Children before parents, so the foreign keys hold at every step.</summary>
    static readonly string[] DeleteAll =
    [
        "DELETE FROM mailbox_overrides", "DELETE FROM domain_overrides", "DELETE FROM aliases", "DELETE FROM mailboxes",
        "DELETE FROM domains", "DELETE FROM global_config", "DELETE FROM domain_defaults", "DELETE FROM mailbox_defaults",
        "DELETE FROM tls_certs", "DELETE FROM dkim_keys", "DELETE FROM antispam_whitelist",
    ];

    const int FlushAt = 64 * 1024;

    /// <summary>
    /// Streams the document from one read transaction (a consistent snapshot under WAL) straight
    /// into <paramref name="output"/>: rows go from the reader to the writer and out in 64 KiB
    /// chunks, so memory stays flat whatever the row count.
    /// </summary>
    public static async Task Export(Db db, Stream output, string createdAt, Func<Task> starting, CancellationToken cancel)
    {
        using var connection = db.Open();
        using var tx = connection.BeginTransaction(deferred: true);
        using (var probe = connection.Command("SELECT COUNT(*) FROM domains")) { probe.Transaction = tx; probe.Scalar(); } // fail before any byte is sent
        await starting();

        await using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteNumber("schema_version", Schema.Version);
        json.WriteString("created_at", createdAt);
        foreach (var table in Tables)
        {
            using var command = connection.Command(table.Select);
            command.Transaction = tx;
            using var reader = command.ExecuteReader();
            if (table.Singleton)
            {
                json.WritePropertyName(table.Name);
                if (!reader.Read()) throw new InvalidOperationException($"{table.Name} has no row");
                WriteRow(json, table, reader);
                continue;
            }
            json.WriteStartArray(table.Name);
            while (reader.Read())
            {
                WriteRow(json, table, reader);
                if (json.BytesPending > FlushAt) await json.FlushAsync(cancel);
            }
            json.WriteEndArray();
        }
        json.WriteEndObject();
        await json.FlushAsync(cancel);
    }

    static void WriteRow(Utf8JsonWriter json, BackupTable table, SqliteDataReader reader)
    {
        json.WriteStartObject();
        for (var i = 0; i < table.Columns.Length; i++)
        {
            json.WritePropertyName(table.Names[i]);
            RowShape<object>.WriteValue(json, TierSql.Read(reader, i, table.Columns[i].Kind));
        }
        json.WriteEndObject();
    }

    /// <summary>
    /// Replaces every data-plane row with the (already validated) document, inside one write
    /// transaction: all or nothing. One prepared command per table, its parameters re-bound per row.
    /// Each tier value passes through <paramref name="canonical"/> (the spelling the config PUTs store).
    /// </summary>
    public static async Task Import(Db db, BackupDocument doc, Func<TierField, object?, object?> canonical, CancellationToken cancel)
    {
        using var write = await db.BeginWrite(cancel);
        foreach (var sql in DeleteAll) write.Command(sql).ExecuteNonQuery();
        InsertAll(write, Domains, doc.Domains);
        InsertAll(write, Mailboxes, doc.Mailboxes);
        InsertAll(write, Aliases, doc.Aliases);
        InsertValues(write, GlobalConfig, canonical, [Values(ConfigStore.Global, doc.GlobalConfig, doc.GlobalConfig.UpdatedAt)]);
        InsertValues(write, DomainDefaults, canonical, [Values(ConfigStore.DomainDefaults, doc.DomainDefaults, doc.DomainDefaults.UpdatedAt)]);
        InsertValues(write, MailboxDefaults, canonical, [Values(ConfigStore.MailboxDefaults, doc.MailboxDefaults, doc.MailboxDefaults.UpdatedAt)]);
        InsertValues(write, DomainOverrides, canonical, doc.DomainOverrides.Select(row => row.Values()));
        InsertValues(write, MailboxOverrides, canonical, doc.MailboxOverrides.Select(row => row.Values()));
        InsertAll(write, TlsCerts, doc.TlsCerts);
        InsertAll(write, DkimKeys, doc.DkimKeys);
        InsertAll(write, AntispamWhitelist, doc.AntispamWhitelist);
        write.Commit();
    }

    static void InsertAll<TRow>(Db.Write write, BackupTable table, IEnumerable<TRow> rows) where TRow : IBackupRow =>
        InsertValues(write, table, null, rows.Select(row => row.Values()));

    static void InsertValues(Db.Write write, BackupTable table, Func<TierField, object?, object?>? canonical, IEnumerable<object?[]> rows)
    {
        using var command = write.Command(table.Insert);
        var parameters = new SqliteParameter[table.Columns.Length];
        for (var i = 0; i < parameters.Length; i++) parameters[i] = command.Parameters.Add($"$p{i}", SqliteType.Text);
        for (var i = 0; i < parameters.Length; i++)
            parameters[i].SqliteType = table.Columns[i].Kind switch { ColumnKind.Real => SqliteType.Real, ColumnKind.Text => SqliteType.Text, _ => SqliteType.Integer };
        command.Prepare();
        foreach (var values in rows)
        {
            for (var i = 0; i < parameters.Length; i++)
            {
                var value = canonical is not null && table.Fields?[i] is { } field ? canonical(field, values[i]) : values[i];
                parameters[i].Value = value switch { null => DBNull.Value, bool b => b ? 1L : 0L, var v => v };
            }
            command.ExecuteNonQuery();
        }
    }
}
