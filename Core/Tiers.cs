
namespace MailPanel.Core;

// The tier rows double as the PUT bodies (clients GET, edit, PUT back): every field is required
// except updated_at, which is accepted and ignored on input. Property order is the JSON order.

/// <summary>global_config: system-wide caps and policy defaults.</summary>
internal sealed record GlobalConfig
{
    public required long MessageSizeLimit { get; init; }
    public required long MaxSmtpdConnections { get; init; }
    public required long MaxSmtpdRatePerMin { get; init; }
    public required string RelayNetworks { get; init; }
    public required string TlsMinVersion { get; init; }
    public required string CipherPolicy { get; init; }
    public required string SpamRemoteHost { get; init; }
    public required long SpamRemotePort { get; init; }
    public required string SpamRemoteNetwork { get; init; }
    public required bool DnsblEnabled { get; init; }
    public required string DnsblZones { get; init; }
    public required bool GreylistEnabled { get; init; }
    public required long GreylistDelaySeconds { get; init; }
    public required long GreylistMaxAgeDays { get; init; }
    public string? UpdatedAt { get; init; }
}

/// <summary>domain_defaults. A null message_size_limit defers to global_config.</summary>
internal sealed record DomainDefaults
{
    public required long QuotaTotalBytes { get; init; }
    public required long MaxMailboxes { get; init; }
    public required long MaxAliases { get; init; }
    public required long? MessageSizeLimit { get; init; }
    public required bool DkimEnabled { get; init; }
    public required string SpfPolicy { get; init; }
    public required string DmarcPolicy { get; init; }
    public required double SpamThreshold { get; init; }
    public required string SpamAction { get; init; }
    public required string ClamavAction { get; init; }
    public required bool GreylistingEnabled { get; init; }
    public required bool RequireTlsInbound { get; init; }
    public string? UpdatedAt { get; init; }
}

/// <summary>mailbox_defaults. Null pointer fields defer to the domain's effective value.</summary>
internal sealed record MailboxDefaults
{
    public required long QuotaBytes { get; init; }
    public required bool EnabledSmtp { get; init; }
    public required bool EnabledImap { get; init; }
    public required bool EnabledPop3 { get; init; }
    public required long MaxSendPerDay { get; init; }
    public required long MaxRecipientsPerMessage { get; init; }
    public required long? MessageSizeLimit { get; init; }
    public required double? SpamThreshold { get; init; }
    public required string? SpamAction { get; init; }
    public required double AutoJunkThreshold { get; init; }
    public required bool VacationEnabled { get; init; }
    public required string VacationMessage { get; init; }
    public required string ForwardTo { get; init; }
    public required bool ForwardKeepCopy { get; init; }
    public required bool RequireTlsClient { get; init; }
    public string? UpdatedAt { get; init; }
}

/// <summary>One domain's override row; null = inherit. Also the PUT body (omitted = null) and, with its key, the backup row.</summary>
internal record DomainOverrides
{
    public long? QuotaTotalBytes { get; init; }
    public long? MaxMailboxes { get; init; }
    public long? MaxAliases { get; init; }
    public long? MessageSizeLimit { get; init; }
    public bool? DkimEnabled { get; init; }
    public string? SpfPolicy { get; init; }
    public string? DmarcPolicy { get; init; }
    public double? SpamThreshold { get; init; }
    public string? SpamAction { get; init; }
    public string? ClamavAction { get; init; }
    public bool? GreylistingEnabled { get; init; }
    public bool? RequireTlsInbound { get; init; }

    public static DomainOverrides None { get; } = new();
}

/// <summary>One mailbox's override row; null = inherit. Also the PUT body (omitted = null) and, with its key, the backup row.</summary>
internal record MailboxOverrides
{
    public bool? EnabledSmtp { get; init; }
    public bool? EnabledImap { get; init; }
    public bool? EnabledPop3 { get; init; }
    public long? MaxSendPerDay { get; init; }
    public long? MaxRecipientsPerMessage { get; init; }
    public long? MessageSizeLimit { get; init; }
    public double? SpamThreshold { get; init; }
    public string? SpamAction { get; init; }
    public double? AutoJunkThreshold { get; init; }
    public bool? VacationEnabled { get; init; }
    public string? VacationMessage { get; init; }
    public string? ForwardTo { get; init; }
    public bool? ForwardKeepCopy { get; init; }
    public bool? RequireTlsClient { get; init; }

    public static MailboxOverrides None { get; } = new();
}

/// <summary>The DNSBL + greylist subset of global_config (section 10). Every field is required on PUT.</summary>
internal sealed record AntispamConfig
{
    public required bool DnsblEnabled { get; init; }
    public required string DnsblZones { get; init; }
    public required bool GreylistEnabled { get; init; }
    public required long GreylistDelaySeconds { get; init; }
    public required long GreylistMaxAgeDays { get; init; }
}

/// <summary>GET /domains/:id/effective: domain overrides on domain_defaults, message_size_limit cascading to global_config.</summary>
internal sealed record DomainEffective(
    long DomainId,
    string DomainName,
    string OutgoingIp,
    long QuotaTotalBytes,
    long MaxMailboxes,
    long MaxAliases,
    long MessageSizeLimit,
    bool DkimEnabled,
    string SpfPolicy,
    string DmarcPolicy,
    double SpamThreshold,
    string SpamAction,
    string ClamavAction,
    bool GreylistingEnabled,
    bool RequireTlsInbound,
    bool Active);

/// <summary>GET /mailboxes/:id/effective: mailbox overrides on mailbox_defaults, cascading to the domain's effective values.</summary>
internal sealed record MailboxEffective(
    long MailboxId,
    string MailboxUsername,
    long DomainId,
    string DomainName,
    long QuotaBytes,
    bool EnabledSmtp,
    bool EnabledImap,
    bool EnabledPop3,
    long MaxSendPerDay,
    long MaxRecipientsPerMessage,
    long MessageSizeLimit,
    double SpamThreshold,
    string SpamAction,
    double AutoJunkThreshold,
    bool VacationEnabled,
    string VacationMessage,
    string ForwardTo,
    bool ForwardKeepCopy,
    bool RequireTlsClient,
    string ClamavAction,
    bool GreylistingEnabled,
    bool RequireTlsInbound,
    bool DkimEnabled,
    string SpfPolicy,
    string DmarcPolicy,
    bool MailboxActive,
    bool DomainActive);

/// <summary>The mailbox columns the effective view needs (the mailbox resource itself lives in MailboxStore).</summary>
internal sealed record MailboxBase(long Id, long DomainId, string Username, long Quota, bool Active);
