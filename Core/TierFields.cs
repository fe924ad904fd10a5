namespace MailPanel.Core;

/// <summary>How a column is stored (SQLite affinity) and read back.</summary>
internal enum ColumnKind { Int, Bool, Real, Text }

/// <summary>What a field's value must satisfy; Rules/ConfigRules.cs turns each kind into its check and error text.</summary>
internal enum RuleKind
{
    None,
    /// <summary>Min..Max (an Int or Real column).</summary>
    Range,
    /// <summary>One of Allowed.</summary>
    OneOf,
    /// <summary>A Postfix network list with at least one entry.</summary>
    Networks,
    /// <summary>A Postfix network list, possibly empty.</summary>
    NetworksOrEmpty,
    /// <summary>Empty, a host name or an IP address.</summary>
    Host,
    /// <summary>A space-separated list of DNS names.</summary>
    Zones,
    /// <summary>Min..Max; a negative value in any Greylist field of the row is the one greylist text.</summary>
    Greylist,
    /// <summary>Plain text of at most <see cref="ConfigLimits.MaxVacationMessage"/> characters.</summary>
    Vacation,
    /// <summary>"" or a list of addresses.</summary>
    AddressList,
}

/// <summary>The canonical spelling a field is stored in, applied after it passed its rule.</summary>
internal enum Norm { None, Words, WordsLower, TrimLower, AddressList }

internal sealed record Rule(RuleKind Kind, long Min = 0, long Max = 0, string[]? Allowed = null)
{
    public static Rule Range(long min, long max) => new(RuleKind.Range, min, max);

    public static Rule OneOf(params string[] allowed) => new(RuleKind.OneOf, Allowed: allowed);
}

/// <summary>The limits the rules apply (also quoted in their error texts).</summary>
internal static class ConfigLimits
{
    public const long MinMessageSize = 1024;
    public const long MaxGreylistDelaySeconds = 86_400;
    public const long MaxGreylistAgeDays = 3650;
    public const long MaxSpamScore = 100;
    public const int MaxVacationMessage = 10_000;

    public static readonly Rule MessageSize = Rule.Range(MinMessageSize, Validate.MaxBytes);
    public static readonly Rule Bytes = Rule.Range(0, Validate.MaxBytes);
    public static readonly Rule Count = Rule.Range(0, Validate.MaxCount);
    public static readonly Rule Score = Rule.Range(0, MaxSpamScore);
    public static readonly Rule Action = Rule.OneOf("tag", "quarantine", "reject");
}

/// <summary>
/// One column of a configuration tier, described once. <paramref name="Name"/> is the SQL column,
/// the JSON name and the name in every derived list (the records' snake_case property names must
/// match: TierFieldsTests checks). <paramref name="Seed"/> is the SQL literal a fresh database holds
/// in the defaults row; "NULL" means the defaults row may be null and then inherits the parent
/// tier's same-named value (domain_defaults from global_config, mailbox_defaults from the domain's
/// effective value). <paramref name="Overridable"/>: the column also exists in the per-row override
/// table (always nullable there: null = inherit). <paramref name="Antispam"/>: part of the
/// /config/antispam subset of global_config.
/// </summary>
internal sealed record TierField(
    string Name,
    ColumnKind Kind,
    string Seed,
    Rule? Rule = null,
    Norm Norm = Norm.None,
    bool Overridable = true,
    bool Antispam = false)
{
    public bool Inherits => Seed == "NULL";
}

/// <summary>
/// A tier: its single-row defaults table (CHECK id = 1, plus updated_at), its fields in JSON order
/// and, for the domain and mailbox tiers, the per-row override table keyed by the parent's id.
/// </summary>
internal sealed class TierTable(string table, TierField[] fields, string? overrideTable = null, string? overrideKey = null, string? parentTable = null)
{
    public string Table { get; } = table;
    public TierField[] Fields { get; } = fields;
    public string? OverrideTable { get; } = overrideTable;
    /// <summary>The override table's key column, a foreign key to <see cref="ParentTable"/>(id).</summary>
    public string? OverrideKey { get; } = overrideKey;
    public string? ParentTable { get; } = parentTable;
    public TierField[] Overridable { get; } = overrideTable is null ? [] : [.. fields.Where(f => f.Overridable)];
    public TierField[] AntispamFields { get; } = [.. fields.Where(f => f.Antispam)];
}

/// <summary>
/// The three tiers (reference sections 5-7 and 10). Adding a setting is one row here plus its
/// property on the tier's records (Core/Tiers.cs) and its tests: SQL, schema (new columns are added
/// to existing databases at start-up), row mapping, backup columns, validation, normalisation and
/// the effective merge are all derived from these rows.
/// </summary>
internal static class TierFields
{
    const ColumnKind I = ColumnKind.Int, B = ColumnKind.Bool, R = ColumnKind.Real, T = ColumnKind.Text;

    public static readonly TierTable Global = new("global_config",
    [
        new("message_size_limit", I, "26214400", ConfigLimits.MessageSize),
        new("max_smtpd_connections", I, "100", Rule.Range(1, Validate.MaxCount)),
        new("max_smtpd_rate_per_min", I, "600", ConfigLimits.Count),
        new("relay_networks", T, "'127.0.0.0/8 [::1]/128'", new(RuleKind.Networks), Norm.Words),
        new("tls_min_version", T, "'TLSv1.2'", Rule.OneOf("TLSv1.2", "TLSv1.3")),
        new("cipher_policy", T, "'high'", Rule.OneOf("medium", "high")),
        new("spam_remote_host", T, "''", new(RuleKind.Host), Norm.TrimLower),
        new("spam_remote_port", I, "783", Rule.Range(1, 65535)),
        new("spam_remote_network", T, "''", new(RuleKind.NetworksOrEmpty), Norm.Words),
        new("dnsbl_enabled", B, "0", Antispam: true),
        new("dnsbl_zones", T, "''", new(RuleKind.Zones), Norm.WordsLower, Antispam: true),
        new("greylist_enabled", B, "0", Antispam: true),
        new("greylist_delay_seconds", I, "300", new(RuleKind.Greylist, 0, ConfigLimits.MaxGreylistDelaySeconds), Antispam: true),
        new("greylist_max_age_days", I, "35", new(RuleKind.Greylist, 0, ConfigLimits.MaxGreylistAgeDays), Antispam: true),
    ]);

    public static readonly TierTable Domain = new("domain_defaults",
    [
        new("quota_total_bytes", I, "10737418240", ConfigLimits.Bytes),
        new("max_mailboxes", I, "100", ConfigLimits.Count),
        new("max_aliases", I, "100", ConfigLimits.Count),
        new("message_size_limit", I, "NULL", ConfigLimits.MessageSize),
        new("dkim_enabled", B, "1"),
        new("spf_policy", T, "'~all'", Rule.OneOf("-all", "~all", "?all")),
        new("dmarc_policy", T, "'none'", Rule.OneOf("none", "quarantine", "reject")),
        new("spam_threshold", R, "5.0", ConfigLimits.Score),
        new("spam_action", T, "'tag'", ConfigLimits.Action),
        new("clamav_action", T, "'quarantine'", ConfigLimits.Action),
        new("greylisting_enabled", B, "0"),
        new("require_tls_inbound", B, "0"),
    ], "domain_overrides", "domain_id", "domains");

    /// <summary>quota_bytes is not overridable: the mailbox row's own quota plays that part (see Store/Effective.cs).</summary>
    public static readonly TierTable Mailbox = new("mailbox_defaults",
    [
        new("quota_bytes", I, "1073741824", ConfigLimits.Bytes, Overridable: false),
        new("enabled_smtp", B, "1"),
        new("enabled_imap", B, "1"),
        new("enabled_pop3", B, "0"),
        new("max_send_per_day", I, "1000", ConfigLimits.Count),
        new("max_recipients_per_message", I, "100", ConfigLimits.Count),
        new("message_size_limit", I, "NULL", ConfigLimits.MessageSize),
        new("spam_threshold", R, "NULL", ConfigLimits.Score),
        new("spam_action", T, "NULL", ConfigLimits.Action),
        new("auto_junk_threshold", R, "7.0", ConfigLimits.Score),
        new("vacation_enabled", B, "0"),
        new("vacation_message", T, "''", new(RuleKind.Vacation)),
        new("forward_to", T, "''", new(RuleKind.AddressList), Norm.AddressList),
        new("forward_keep_copy", B, "1"),
        new("require_tls_client", B, "0"),
    ], "mailbox_overrides", "mailbox_id", "mailboxes");

    /// <summary>The domain fields a mailbox's effective view repeats, in its JSON order (after the mailbox fields).</summary>
    public static readonly string[] MailboxEffectiveDomainFields =
        ["clamav_action", "greylisting_enabled", "require_tls_inbound", "dkim_enabled", "spf_policy", "dmarc_policy"];

    public static readonly TierTable[] All = [Global, Domain, Mailbox];
}
