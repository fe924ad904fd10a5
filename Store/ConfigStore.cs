using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// A consistent read of every tier and override, resolved: what the mail-stack renderer needs.
/// Domains and mailboxes are ordered by id.
/// </summary>
internal sealed record EffectiveSnapshot(
    GlobalConfig Global,
    IReadOnlyList<DomainEffective> Domains,
    IReadOnlyList<MailboxEffective> Mailboxes);

/// <summary>The configuration tiers (sections 5-7, 10): the three single-row tiers and the per-row overrides.</summary>
internal static class ConfigStore
{
    // ---- global_config ----

    const string GlobalColumns = """
        message_size_limit, max_smtpd_connections, max_smtpd_rate_per_min, relay_networks, tls_min_version,
        cipher_policy, spam_remote_host, spam_remote_port, spam_remote_network, dnsbl_enabled, dnsbl_zones,
        greylist_enabled, greylist_delay_seconds, greylist_max_age_days, updated_at
        """;

    static GlobalConfig MapGlobal(SqliteDataReader r) => new()
    {
        MessageSizeLimit = r.GetInt64(0),
        MaxSmtpdConnections = r.GetInt64(1),
        MaxSmtpdRatePerMin = r.GetInt64(2),
        RelayNetworks = r.GetString(3),
        TlsMinVersion = r.GetString(4),
        CipherPolicy = r.GetString(5),
        SpamRemoteHost = r.GetString(6),
        SpamRemotePort = r.GetInt64(7),
        SpamRemoteNetwork = r.GetString(8),
        DnsblEnabled = r.Bool(9),
        DnsblZones = r.GetString(10),
        GreylistEnabled = r.Bool(11),
        GreylistDelaySeconds = r.GetInt64(12),
        GreylistMaxAgeDays = r.GetInt64(13),
        UpdatedAt = r.GetString(14),
    };

    const string SelectGlobalSql = $"SELECT {GlobalColumns} FROM global_config WHERE id = 1";

    public static GlobalConfig Global(Db db)
    {
        using var connection = db.Open();
        return connection.Command(SelectGlobalSql).ReadOne(MapGlobal)!;
    }

    const string UpdateGlobalSql = $"""
        UPDATE global_config SET message_size_limit = $size, max_smtpd_connections = $conn,
            max_smtpd_rate_per_min = $rate, relay_networks = $relay, tls_min_version = $tls, cipher_policy = $cipher,
            spam_remote_host = $spamHost, spam_remote_port = $spamPort, spam_remote_network = $spamNet,
            dnsbl_enabled = $dnsbl, dnsbl_zones = $zones, greylist_enabled = $grey, greylist_delay_seconds = $delay,
            greylist_max_age_days = $maxAge, updated_at = $now
        WHERE id = 1 RETURNING {GlobalColumns}
        """;

    public static GlobalConfig SaveGlobal(Db.Write write, GlobalConfig g) =>
        write.Command(UpdateGlobalSql, ("$size", g.MessageSizeLimit), ("$conn", g.MaxSmtpdConnections),
            ("$rate", g.MaxSmtpdRatePerMin), ("$relay", g.RelayNetworks), ("$tls", g.TlsMinVersion),
            ("$cipher", g.CipherPolicy), ("$spamHost", g.SpamRemoteHost), ("$spamPort", g.SpamRemotePort),
            ("$spamNet", g.SpamRemoteNetwork), ("$dnsbl", g.DnsblEnabled), ("$zones", g.DnsblZones),
            ("$grey", g.GreylistEnabled), ("$delay", g.GreylistDelaySeconds), ("$maxAge", g.GreylistMaxAgeDays),
            ("$now", Clock.Now())).ReadOne(MapGlobal)!;

    public static AntispamConfig Antispam(Db db)
    {
        var g = Global(db);
        return new()
        {
            DnsblEnabled = g.DnsblEnabled,
            DnsblZones = g.DnsblZones,
            GreylistEnabled = g.GreylistEnabled,
            GreylistDelaySeconds = g.GreylistDelaySeconds,
            GreylistMaxAgeDays = g.GreylistMaxAgeDays,
        };
    }

    const string UpdateAntispamSql = """
        UPDATE global_config SET dnsbl_enabled = $dnsbl, dnsbl_zones = $zones, greylist_enabled = $grey,
            greylist_delay_seconds = $delay, greylist_max_age_days = $maxAge, updated_at = $now
        WHERE id = 1
        """;

    public static void SaveAntispam(Db.Write write, AntispamConfig a) =>
        write.Command(UpdateAntispamSql, ("$dnsbl", a.DnsblEnabled), ("$zones", a.DnsblZones), ("$grey", a.GreylistEnabled),
            ("$delay", a.GreylistDelaySeconds), ("$maxAge", a.GreylistMaxAgeDays), ("$now", Clock.Now())).ExecuteNonQuery();

    // ---- domain_defaults ----

    const string DomainDefaultsColumns = """
        quota_total_bytes, max_mailboxes, max_aliases, message_size_limit, dkim_enabled, spf_policy, dmarc_policy,
        spam_threshold, spam_action, clamav_action, greylisting_enabled, require_tls_inbound, updated_at
        """;

    static DomainDefaults MapDomainDefaults(SqliteDataReader r) => new()
    {
        QuotaTotalBytes = r.GetInt64(0),
        MaxMailboxes = r.GetInt64(1),
        MaxAliases = r.GetInt64(2),
        MessageSizeLimit = r.NullableInt64(3),
        DkimEnabled = r.Bool(4),
        SpfPolicy = r.GetString(5),
        DmarcPolicy = r.GetString(6),
        SpamThreshold = r.GetDouble(7),
        SpamAction = r.GetString(8),
        ClamavAction = r.GetString(9),
        GreylistingEnabled = r.Bool(10),
        RequireTlsInbound = r.Bool(11),
        UpdatedAt = r.GetString(12),
    };

    const string SelectDomainDefaultsSql = $"SELECT {DomainDefaultsColumns} FROM domain_defaults WHERE id = 1";

    public static DomainDefaults DomainDefaults(Db db)
    {
        using var connection = db.Open();
        return connection.Command(SelectDomainDefaultsSql).ReadOne(MapDomainDefaults)!;
    }

    const string UpdateDomainDefaultsSql = $"""
        UPDATE domain_defaults SET quota_total_bytes = $quota, max_mailboxes = $maxMailboxes, max_aliases = $maxAliases,
            message_size_limit = $size, dkim_enabled = $dkim, spf_policy = $spf, dmarc_policy = $dmarc,
            spam_threshold = $spamThreshold, spam_action = $spamAction, clamav_action = $clamav,
            greylisting_enabled = $grey, require_tls_inbound = $tls, updated_at = $now
        WHERE id = 1 RETURNING {DomainDefaultsColumns}
        """;

    public static DomainDefaults SaveDomainDefaults(Db.Write write, DomainDefaults d) =>
        write.Command(UpdateDomainDefaultsSql, ("$quota", d.QuotaTotalBytes), ("$maxMailboxes", d.MaxMailboxes),
            ("$maxAliases", d.MaxAliases), ("$size", d.MessageSizeLimit), ("$dkim", d.DkimEnabled), ("$spf", d.SpfPolicy),
            ("$dmarc", d.DmarcPolicy), ("$spamThreshold", d.SpamThreshold), ("$spamAction", d.SpamAction),
            ("$clamav", d.ClamavAction), ("$grey", d.GreylistingEnabled), ("$tls", d.RequireTlsInbound),
            ("$now", Clock.Now())).ReadOne(MapDomainDefaults)!;

    // ---- mailbox_defaults ----

    const string MailboxDefaultsColumns = """
        quota_bytes, enabled_smtp, enabled_imap, enabled_pop3, max_send_per_day, max_recipients_per_message,
        message_size_limit, spam_threshold, spam_action, auto_junk_threshold, vacation_enabled, vacation_message,
        forward_to, forward_keep_copy, require_tls_client, updated_at
        """;

    static MailboxDefaults MapMailboxDefaults(SqliteDataReader r) => new()
    {
        QuotaBytes = r.GetInt64(0),
        EnabledSmtp = r.Bool(1),
        EnabledImap = r.Bool(2),
        EnabledPop3 = r.Bool(3),
        MaxSendPerDay = r.GetInt64(4),
        MaxRecipientsPerMessage = r.GetInt64(5),
        MessageSizeLimit = r.NullableInt64(6),
        SpamThreshold = r.NullableDouble(7),
        SpamAction = r.NullableString(8),
        AutoJunkThreshold = r.GetDouble(9),
        VacationEnabled = r.Bool(10),
        VacationMessage = r.GetString(11),
        ForwardTo = r.GetString(12),
        ForwardKeepCopy = r.Bool(13),
        RequireTlsClient = r.Bool(14),
        UpdatedAt = r.GetString(15),
    };

    const string SelectMailboxDefaultsSql = $"SELECT {MailboxDefaultsColumns} FROM mailbox_defaults WHERE id = 1";

    public static MailboxDefaults MailboxDefaults(Db db)
    {
        using var connection = db.Open();
        return connection.Command(SelectMailboxDefaultsSql).ReadOne(MapMailboxDefaults)!;
    }

    const string UpdateMailboxDefaultsSql = $"""
        UPDATE mailbox_defaults SET quota_bytes = $quota, enabled_smtp = $smtp, enabled_imap = $imap, enabled_pop3 = $pop3,
            max_send_per_day = $sendPerDay, max_recipients_per_message = $rcpt, message_size_limit = $size,
            spam_threshold = $spamThreshold, spam_action = $spamAction, auto_junk_threshold = $junk,
            vacation_enabled = $vacation, vacation_message = $vacationMessage, forward_to = $forward,
            forward_keep_copy = $keepCopy, require_tls_client = $tls, updated_at = $now
        WHERE id = 1 RETURNING {MailboxDefaultsColumns}
        """;

    public static MailboxDefaults SaveMailboxDefaults(Db.Write write, MailboxDefaults d) =>
        write.Command(UpdateMailboxDefaultsSql, ("$quota", d.QuotaBytes), ("$smtp", d.EnabledSmtp), ("$imap", d.EnabledImap),
            ("$pop3", d.EnabledPop3), ("$sendPerDay", d.MaxSendPerDay), ("$rcpt", d.MaxRecipientsPerMessage),
            ("$size", d.MessageSizeLimit), ("$spamThreshold", d.SpamThreshold), ("$spamAction", d.SpamAction),
            ("$junk", d.AutoJunkThreshold), ("$vacation", d.VacationEnabled), ("$vacationMessage", d.VacationMessage),
            ("$forward", d.ForwardTo), ("$keepCopy", d.ForwardKeepCopy), ("$tls", d.RequireTlsClient),
            ("$now", Clock.Now())).ReadOne(MapMailboxDefaults)!;

    // ---- domain_overrides ----

    const string DomainOverridesColumns = """
        quota_total_bytes, max_mailboxes, max_aliases, message_size_limit, dkim_enabled, spf_policy, dmarc_policy,
        spam_threshold, spam_action, clamav_action, greylisting_enabled, require_tls_inbound
        """;

    /// <summary>Reads the override columns starting at <paramref name="at"/> (all NULL when the LEFT JOIN found no row).</summary>
    static DomainOverrides MapDomainOverrides(SqliteDataReader r, int at) => new(
        r.NullableInt64(at), r.NullableInt64(at + 1), r.NullableInt64(at + 2), r.NullableInt64(at + 3), r.NullableBool(at + 4),
        r.NullableString(at + 5), r.NullableString(at + 6), r.NullableDouble(at + 7), r.NullableString(at + 8),
        r.NullableString(at + 9), r.NullableBool(at + 10), r.NullableBool(at + 11));

    const string SelectDomainOverridesSql = $"SELECT {DomainOverridesColumns} FROM domain_overrides WHERE domain_id = $id";

    /// <summary>The domain's overrides (all null when it has no row yet), or null when the domain does not exist.</summary>
    public static DomainOverrides? DomainOverrides(Db db, long domainId)
    {
        using var connection = db.Open();
        if (connection.Command("SELECT COUNT(*) FROM domains WHERE id = $id", ("$id", domainId)).Scalar() == 0) return null;
        return connection.Command(SelectDomainOverridesSql, ("$id", domainId)).ReadOne(r => MapDomainOverrides(r, 0))
            ?? Core.DomainOverrides.None;
    }

    const string UpsertDomainOverridesSql = """
        INSERT INTO domain_overrides(domain_id, quota_total_bytes, max_mailboxes, max_aliases, message_size_limit,
            dkim_enabled, spf_policy, dmarc_policy, spam_threshold, spam_action, clamav_action, greylisting_enabled,
            require_tls_inbound)
        SELECT id, $quota, $maxMailboxes, $maxAliases, $size, $dkim, $spf, $dmarc, $spamThreshold, $spamAction, $clamav,
            $grey, $tls FROM domains WHERE id = $id
        ON CONFLICT(domain_id) DO UPDATE SET quota_total_bytes = excluded.quota_total_bytes,
            max_mailboxes = excluded.max_mailboxes, max_aliases = excluded.max_aliases,
            message_size_limit = excluded.message_size_limit, dkim_enabled = excluded.dkim_enabled,
            spf_policy = excluded.spf_policy, dmarc_policy = excluded.dmarc_policy,
            spam_threshold = excluded.spam_threshold, spam_action = excluded.spam_action,
            clamav_action = excluded.clamav_action, greylisting_enabled = excluded.greylisting_enabled,
            require_tls_inbound = excluded.require_tls_inbound
        """;

    /// <summary>Replaces the domain's whole override row; false when the domain does not exist.</summary>
    public static bool SaveDomainOverrides(Db.Write write, long domainId, DomainOverrides o) =>
        write.Command(UpsertDomainOverridesSql, ("$id", domainId), ("$quota", o.QuotaTotalBytes), ("$maxMailboxes", o.MaxMailboxes),
            ("$maxAliases", o.MaxAliases), ("$size", o.MessageSizeLimit), ("$dkim", o.DkimEnabled), ("$spf", o.SpfPolicy),
            ("$dmarc", o.DmarcPolicy), ("$spamThreshold", o.SpamThreshold), ("$spamAction", o.SpamAction),
            ("$clamav", o.ClamavAction), ("$grey", o.GreylistingEnabled), ("$tls", o.RequireTlsInbound)).ExecuteNonQuery() == 1;

    // ---- mailbox_overrides ----

    const string MailboxOverridesColumns = """
        enabled_smtp, enabled_imap, enabled_pop3, max_send_per_day, max_recipients_per_message, message_size_limit,
        spam_threshold, spam_action, auto_junk_threshold, vacation_enabled, vacation_message, forward_to,
        forward_keep_copy, require_tls_client
        """;

    static MailboxOverrides MapMailboxOverrides(SqliteDataReader r, int at) => new(
        r.NullableBool(at), r.NullableBool(at + 1), r.NullableBool(at + 2), r.NullableInt64(at + 3), r.NullableInt64(at + 4),
        r.NullableInt64(at + 5), r.NullableDouble(at + 6), r.NullableString(at + 7), r.NullableDouble(at + 8),
        r.NullableBool(at + 9), r.NullableString(at + 10), r.NullableString(at + 11), r.NullableBool(at + 12),
        r.NullableBool(at + 13));

    const string SelectMailboxOverridesSql = $"SELECT {MailboxOverridesColumns} FROM mailbox_overrides WHERE mailbox_id = $id";

    /// <summary>The mailbox's overrides (all null when it has no row yet), or null when the mailbox does not exist.</summary>
    public static MailboxOverrides? MailboxOverrides(Db db, long mailboxId)
    {
        using var connection = db.Open();
        if (connection.Command("SELECT COUNT(*) FROM mailboxes WHERE id = $id", ("$id", mailboxId)).Scalar() == 0) return null;
        return connection.Command(SelectMailboxOverridesSql, ("$id", mailboxId)).ReadOne(r => MapMailboxOverrides(r, 0))
            ?? Core.MailboxOverrides.None;
    }

    const string UpsertMailboxOverridesSql = """
        INSERT INTO mailbox_overrides(mailbox_id, enabled_smtp, enabled_imap, enabled_pop3, max_send_per_day,
            max_recipients_per_message, message_size_limit, spam_threshold, spam_action, auto_junk_threshold,
            vacation_enabled, vacation_message, forward_to, forward_keep_copy, require_tls_client)
        SELECT id, $smtp, $imap, $pop3, $sendPerDay, $rcpt, $size, $spamThreshold, $spamAction, $junk, $vacation,
            $vacationMessage, $forward, $keepCopy, $tls FROM mailboxes WHERE id = $id
        ON CONFLICT(mailbox_id) DO UPDATE SET enabled_smtp = excluded.enabled_smtp, enabled_imap = excluded.enabled_imap,
            enabled_pop3 = excluded.enabled_pop3, max_send_per_day = excluded.max_send_per_day,
            max_recipients_per_message = excluded.max_recipients_per_message,
            message_size_limit = excluded.message_size_limit, spam_threshold = excluded.spam_threshold,
            spam_action = excluded.spam_action, auto_junk_threshold = excluded.auto_junk_threshold,
            vacation_enabled = excluded.vacation_enabled, vacation_message = excluded.vacation_message,
            forward_to = excluded.forward_to, forward_keep_copy = excluded.forward_keep_copy,
            require_tls_client = excluded.require_tls_client
        """;

    /// <summary>Replaces the mailbox's whole override row; false when the mailbox does not exist.</summary>
    public static bool SaveMailboxOverrides(Db.Write write, long mailboxId, MailboxOverrides o) =>
        write.Command(UpsertMailboxOverridesSql, ("$id", mailboxId), ("$smtp", o.EnabledSmtp), ("$imap", o.EnabledImap),
            ("$pop3", o.EnabledPop3), ("$sendPerDay", o.MaxSendPerDay), ("$rcpt", o.MaxRecipientsPerMessage),
            ("$size", o.MessageSizeLimit), ("$spamThreshold", o.SpamThreshold), ("$spamAction", o.SpamAction),
            ("$junk", o.AutoJunkThreshold), ("$vacation", o.VacationEnabled), ("$vacationMessage", o.VacationMessage),
            ("$forward", o.ForwardTo), ("$keepCopy", o.ForwardKeepCopy), ("$tls", o.RequireTlsClient)).ExecuteNonQuery() == 1;

    // ---- effective views ----

    const string EffectiveDomainsSql = """
        SELECT d.id, d.name, d.active, d.outgoing_ip, d.created_at, o.quota_total_bytes, o.max_mailboxes, o.max_aliases,
            o.message_size_limit, o.dkim_enabled, o.spf_policy, o.dmarc_policy, o.spam_threshold, o.spam_action,
            o.clamav_action, o.greylisting_enabled, o.require_tls_inbound
        FROM domains d LEFT JOIN domain_overrides o ON o.domain_id = d.id
        """;

    const string EffectiveMailboxesColumns = """
        SELECT m.id, m.domain_id, m.username, m.quota, m.active, o.enabled_smtp, o.enabled_imap, o.enabled_pop3,
            o.max_send_per_day, o.max_recipients_per_message, o.message_size_limit, o.spam_threshold, o.spam_action,
            o.auto_junk_threshold, o.vacation_enabled, o.vacation_message, o.forward_to, o.forward_keep_copy,
            o.require_tls_client
        """;

    const string EffectiveMailboxesSql = EffectiveMailboxesColumns + "\nFROM mailboxes m LEFT JOIN mailbox_overrides o ON o.mailbox_id = m.id";

    /// <summary>The same rows plus the stored password hash (column 19), by domain name then username (CROSS JOIN keeps domains the outer loop).</summary>
    const string EffectiveMailboxesByAddressSql = EffectiveMailboxesColumns + ", m.password_hash"
        + "\nFROM domains dn CROSS JOIN mailboxes m ON m.domain_id = dn.id LEFT JOIN mailbox_overrides o ON o.mailbox_id = m.id"
        + " ORDER BY dn.name, m.username";

    const string EffectiveDomainByIdSql = EffectiveDomainsSql + " WHERE d.id = $id";
    const string EffectiveDomainsAllSql = EffectiveDomainsSql + " ORDER BY d.id";
    const string EffectiveMailboxByIdSql = EffectiveMailboxesSql + " WHERE m.id = $id";
    const string EffectiveMailboxesAllSql = EffectiveMailboxesSql + " ORDER BY m.id";

    static (Domain, DomainOverrides) MapDomainRow(SqliteDataReader r) =>
        (new Domain(r.GetInt64(0), r.GetString(1), r.Bool(2), r.GetString(3), r.GetString(4)), MapDomainOverrides(r, 5));

    static (MailboxBase, MailboxOverrides) MapMailboxRow(SqliteDataReader r) =>
        (new MailboxBase(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.Bool(4)), MapMailboxOverrides(r, 5));

    /// <summary>One read transaction, so the tiers and rows resolved together are from the same moment.</summary>
    internal sealed class Snapshot : IDisposable
    {
        readonly SqliteConnection connection;
        readonly SqliteTransaction transaction;

        public Snapshot(Db db)
        {
            connection = db.Open();
            transaction = connection.BeginTransaction(deferred: true);
            Global = Command(SelectGlobalSql).ReadOne(MapGlobal)!;
            DomainDefaults = Command(SelectDomainDefaultsSql).ReadOne(MapDomainDefaults)!;
            MailboxDefaults = Command(SelectMailboxDefaultsSql).ReadOne(MapMailboxDefaults)!;
        }

        public GlobalConfig Global { get; }
        public DomainDefaults DomainDefaults { get; }
        public MailboxDefaults MailboxDefaults { get; }

        public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
        {
            var command = connection.Command(sql, parameters);
            command.Transaction = transaction;
            return command;
        }

        public DomainEffective Resolve((Domain Domain, DomainOverrides Overrides) row) =>
            Effective.Domain(row.Domain, row.Overrides, DomainDefaults, Global);

        public void Dispose()
        {
            transaction.Dispose(); // read-only: rollback is the same as commit
            connection.Dispose();
        }
    }

    public static DomainEffective? EffectiveDomain(Db db, long domainId)
    {
        using var snapshot = new Snapshot(db);
        var row = snapshot.Command(EffectiveDomainByIdSql, ("$id", domainId)).ReadAll(MapDomainRow);
        return row.Count == 0 ? null : snapshot.Resolve(row[0]);
    }

    public static MailboxEffective? EffectiveMailbox(Db db, long mailboxId)
    {
        using var snapshot = new Snapshot(db);
        var rows = snapshot.Command(EffectiveMailboxByIdSql, ("$id", mailboxId)).ReadAll(MapMailboxRow);
        if (rows.Count == 0) return null;
        var (mailbox, overrides) = rows[0];
        var domain = snapshot.Command(EffectiveDomainByIdSql, ("$id", mailbox.DomainId)).ReadAll(MapDomainRow);
        return Effective.Mailbox(mailbox, overrides, snapshot.MailboxDefaults, snapshot.Resolve(domain[0]));
    }

    /// <summary>
    /// Every domain and mailbox resolved in one pass (two table scans, one read transaction): the
    /// renderer's input, sized for 100,000 mailboxes. Each domain is resolved once and shared by its mailboxes.
    /// </summary>
    public static EffectiveSnapshot ResolveAll(Db db)
    {
        using var snapshot = new Snapshot(db);
        return ResolveAll(snapshot);
    }

    /// <summary>The same, inside a caller's snapshot.</summary>
    public static EffectiveSnapshot ResolveAll(Snapshot snapshot)
    {
        var domains = ResolveDomains(snapshot);
        var byId = domains.ToDictionary(d => d.DomainId);
        var mailboxes = new List<MailboxEffective>();
        using (var reader = snapshot.Command(EffectiveMailboxesAllSql).ExecuteReader())
        {
            while (reader.Read())
            {
                var (mailbox, overrides) = MapMailboxRow(reader);
                mailboxes.Add(Effective.Mailbox(mailbox, overrides, snapshot.MailboxDefaults, byId[mailbox.DomainId]));
            }
        }
        return new EffectiveSnapshot(snapshot.Global, domains, mailboxes);
    }

    /// <summary>Every domain resolved, by id.</summary>
    public static List<DomainEffective> ResolveDomains(Snapshot snapshot) =>
        snapshot.Command(EffectiveDomainsAllSql).ReadAll(MapDomainRow).ConvertAll(snapshot.Resolve);

    /// <summary>
    /// Every mailbox resolved with its stored password hash, ordered by domain name then username,
    /// streamed from the reader one row at a time: the mail stack renders 100,000 mailboxes without
    /// holding them. The order comes from the two unique indexes (domains.name, then
    /// mailboxes(domain_id, username)), so SQLite does not sort either.
    /// </summary>
    public static IEnumerable<T> StreamMailboxesByAddress<T>(Snapshot snapshot, IReadOnlyDictionary<long, DomainEffective> domains, Func<MailboxEffective, string, T> project)
    {
        using var reader = snapshot.Command(EffectiveMailboxesByAddressSql).ExecuteReader();
        while (reader.Read())
        {
            var (mailbox, overrides) = MapMailboxRow(reader);
            yield return project(Effective.Mailbox(mailbox, overrides, snapshot.MailboxDefaults, domains[mailbox.DomainId]), reader.GetString(19));
        }
    }
}
