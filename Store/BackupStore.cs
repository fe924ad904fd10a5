using System.Text.Encodings.Web;
using System.Text.Json;
using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

internal enum ColumnKind { Int, Bool, Real, Text }

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

    public static readonly BackupTable GlobalConfig = new("global_config", "id", true,
        [("message_size_limit", I), ("max_smtpd_connections", I), ("max_smtpd_rate_per_min", I), ("relay_networks", T),
         ("tls_min_version", T), ("cipher_policy", T), ("spam_remote_host", T), ("spam_remote_port", I),
         ("spam_remote_network", T), ("dnsbl_enabled", B), ("dnsbl_zones", T), ("greylist_enabled", B),
         ("greylist_delay_seconds", I), ("greylist_max_age_days", I), ("updated_at", T)]);

    public static readonly BackupTable DomainDefaults = new("domain_defaults", "id", true,
        [("quota_total_bytes", I), ("max_mailboxes", I), ("max_aliases", I), ("message_size_limit", I), ("dkim_enabled", B),
         ("spf_policy", T), ("dmarc_policy", T), ("spam_threshold", R), ("spam_action", T), ("clamav_action", T),
         ("greylisting_enabled", B), ("require_tls_inbound", B), ("updated_at", T)]);

    public static readonly BackupTable MailboxDefaults = new("mailbox_defaults", "id", true,
        [("quota_bytes", I), ("enabled_smtp", B), ("enabled_imap", B), ("enabled_pop3", B), ("max_send_per_day", I),
         ("max_recipients_per_message", I), ("message_size_limit", I), ("spam_threshold", R), ("spam_action", T),
         ("auto_junk_threshold", R), ("vacation_enabled", B), ("vacation_message", T), ("forward_to", T),
         ("forward_keep_copy", B), ("require_tls_client", B), ("updated_at", T)]);

    public static readonly BackupTable DomainOverrides = new("domain_overrides", "domain_id", false,
        [("domain_id", I), ("quota_total_bytes", I), ("max_mailboxes", I), ("max_aliases", I), ("message_size_limit", I),
         ("dkim_enabled", B), ("spf_policy", T), ("dmarc_policy", T), ("spam_threshold", R), ("spam_action", T),
         ("clamav_action", T), ("greylisting_enabled", B), ("require_tls_inbound", B)]);

    public static readonly BackupTable MailboxOverrides = new("mailbox_overrides", "mailbox_id", false,
        [("mailbox_id", I), ("enabled_smtp", B), ("enabled_imap", B), ("enabled_pop3", B), ("max_send_per_day", I),
         ("max_recipients_per_message", I), ("message_size_limit", I), ("spam_threshold", R), ("spam_action", T),
         ("auto_junk_threshold", R), ("vacation_enabled", B), ("vacation_message", T), ("forward_to", T),
         ("forward_keep_copy", B), ("require_tls_client", B)]);

    public static readonly BackupTable TlsCerts = new("tls_certs", "id", false,
        [("id", I), ("hostname", T), ("cert_path", T), ("key_path", T), ("issuer", T), ("expires_at", T), ("created_at", T)]);

    public static readonly BackupTable DkimKeys = new("dkim_keys", "id", false,
        [("id", I), ("domain", T), ("selector", T), ("private_key_path", T), ("dns_record", T), ("created_at", T)]);

    public static readonly BackupTable AntispamWhitelist = new("antispam_whitelist", "id", false,
        [("id", I), ("entry_type", T), ("value", T), ("note", T), ("created_at", T)]);

    // The tiers are the config routes' records (Store/ConfigStore.cs); their values in the column order above.

    static object?[] Values(GlobalConfig g) =>
        [g.MessageSizeLimit, g.MaxSmtpdConnections, g.MaxSmtpdRatePerMin, g.RelayNetworks, g.TlsMinVersion, g.CipherPolicy,
         g.SpamRemoteHost, g.SpamRemotePort, g.SpamRemoteNetwork, g.DnsblEnabled, g.DnsblZones, g.GreylistEnabled,
         g.GreylistDelaySeconds, g.GreylistMaxAgeDays, g.UpdatedAt];

    static object?[] Values(DomainDefaults d) =>
        [d.QuotaTotalBytes, d.MaxMailboxes, d.MaxAliases, d.MessageSizeLimit, d.DkimEnabled, d.SpfPolicy, d.DmarcPolicy,
         d.SpamThreshold, d.SpamAction, d.ClamavAction, d.GreylistingEnabled, d.RequireTlsInbound, d.UpdatedAt];

    static object?[] Values(MailboxDefaults m) =>
        [m.QuotaBytes, m.EnabledSmtp, m.EnabledImap, m.EnabledPop3, m.MaxSendPerDay, m.MaxRecipientsPerMessage,
         m.MessageSizeLimit, m.SpamThreshold, m.SpamAction, m.AutoJunkThreshold, m.VacationEnabled, m.VacationMessage,
         m.ForwardTo, m.ForwardKeepCopy, m.RequireTlsClient, m.UpdatedAt];

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
            if (reader.IsDBNull(i)) { json.WriteNullValue(); continue; }
            switch (table.Columns[i].Kind)
            {
                case ColumnKind.Int: json.WriteNumberValue(reader.GetInt64(i)); break;
                case ColumnKind.Bool: json.WriteBooleanValue(reader.GetInt64(i) != 0); break;
                case ColumnKind.Real: json.WriteNumberValue(reader.GetDouble(i)); break;
                default: json.WriteStringValue(reader.GetString(i)); break;
            }
        }
        json.WriteEndObject();
    }

    /// <summary>
    /// Replaces every data-plane row with the (already validated) document, inside one write
    /// transaction: all or nothing. One prepared command per table, its parameters re-bound per row.
    /// </summary>
    public static async Task Import(Db db, BackupDocument doc, CancellationToken cancel)
    {
        using var write = await db.BeginWrite(cancel);
        foreach (var sql in DeleteAll) write.Command(sql).ExecuteNonQuery();
        InsertAll(write, Domains, doc.Domains);
        InsertAll(write, Mailboxes, doc.Mailboxes);
        InsertAll(write, Aliases, doc.Aliases);
        InsertValues(write, GlobalConfig, [Values(doc.GlobalConfig)]);
        InsertValues(write, DomainDefaults, [Values(doc.DomainDefaults)]);
        InsertValues(write, MailboxDefaults, [Values(doc.MailboxDefaults)]);
        InsertAll(write, DomainOverrides, doc.DomainOverrides);
        InsertAll(write, MailboxOverrides, doc.MailboxOverrides);
        InsertAll(write, TlsCerts, doc.TlsCerts);
        InsertAll(write, DkimKeys, doc.DkimKeys);
        InsertAll(write, AntispamWhitelist, doc.AntispamWhitelist);
        write.Commit();
    }

    static void InsertAll<TRow>(Db.Write write, BackupTable table, IEnumerable<TRow> rows) where TRow : IBackupRow =>
        InsertValues(write, table, rows.Select(row => row.Values()));

    static void InsertValues(Db.Write write, BackupTable table, IEnumerable<object?[]> rows)
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
                parameters[i].Value = values[i] switch { null => DBNull.Value, bool b => b ? 1L : 0L, var v => v };
            command.ExecuteNonQuery();
        }
    }
}
