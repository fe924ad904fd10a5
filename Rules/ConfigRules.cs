using MailPanel.Core;

namespace MailPanel.Rules;

/// <summary>
/// Field rules shared by the tiers, the overrides and the anti-spam subset. Each Check returns the
/// first failure (naming the field) or null. In the override rows null means inherit and is always fine.
/// </summary>
internal static class ConfigRules
{
    public const long MinMessageSize = 1024;
    public const long MaxGreylistDelaySeconds = 86_400;
    public const long MaxGreylistAgeDays = 3650;
    public const double MaxSpamScore = 100;
    public const int MaxVacationMessage = 10_000;

    static readonly string[] TlsVersions = ["TLSv1.2", "TLSv1.3"];
    static readonly string[] CipherPolicies = ["medium", "high"];
    static readonly string[] SpfPolicies = ["-all", "~all", "?all"];
    static readonly string[] DmarcPolicies = ["none", "quarantine", "reject"];
    static readonly string[] Actions = ["tag", "quarantine", "reject"];

    public static string? Check(GlobalConfig g) =>
        MessageSize(g.MessageSizeLimit)
        ?? Validate.Range("max_smtpd_connections", g.MaxSmtpdConnections, 1, Validate.MaxCount)
        ?? Validate.Range("max_smtpd_rate_per_min", g.MaxSmtpdRatePerMin, 0, Validate.MaxCount)
        ?? Validate.NetworkList("relay_networks", g.RelayNetworks, allowEmpty: false)
        ?? Validate.OneOf("tls_min_version", g.TlsMinVersion, TlsVersions)
        ?? Validate.OneOf("cipher_policy", g.CipherPolicy, CipherPolicies)
        ?? SpamHost(g.SpamRemoteHost)
        ?? Validate.Range("spam_remote_port", g.SpamRemotePort, 1, 65535)
        ?? Validate.NetworkList("spam_remote_network", g.SpamRemoteNetwork, allowEmpty: true)
        ?? Antispam(g.DnsblZones, g.GreylistDelaySeconds, g.GreylistMaxAgeDays);

    public static string? Check(AntispamConfig a) => Antispam(a.DnsblZones, a.GreylistDelaySeconds, a.GreylistMaxAgeDays);

    public static string? Check(DomainDefaults d) =>
        Bytes("quota_total_bytes", d.QuotaTotalBytes)
        ?? Count("max_mailboxes", d.MaxMailboxes)
        ?? Count("max_aliases", d.MaxAliases)
        ?? MessageSize(d.MessageSizeLimit)
        ?? Validate.OneOf("spf_policy", d.SpfPolicy, SpfPolicies)
        ?? Validate.OneOf("dmarc_policy", d.DmarcPolicy, DmarcPolicies)
        ?? Score("spam_threshold", d.SpamThreshold)
        ?? Validate.OneOf("spam_action", d.SpamAction, Actions)
        ?? Validate.OneOf("clamav_action", d.ClamavAction, Actions);

    public static string? Check(DomainOverrides o) =>
        Bytes("quota_total_bytes", o.QuotaTotalBytes)
        ?? Count("max_mailboxes", o.MaxMailboxes)
        ?? Count("max_aliases", o.MaxAliases)
        ?? MessageSize(o.MessageSizeLimit)
        ?? Optional("spf_policy", o.SpfPolicy, SpfPolicies)
        ?? Optional("dmarc_policy", o.DmarcPolicy, DmarcPolicies)
        ?? Score("spam_threshold", o.SpamThreshold)
        ?? Optional("spam_action", o.SpamAction, Actions)
        ?? Optional("clamav_action", o.ClamavAction, Actions);

    public static string? Check(MailboxDefaults d) =>
        Bytes("quota_bytes", d.QuotaBytes)
        ?? Count("max_send_per_day", d.MaxSendPerDay)
        ?? Count("max_recipients_per_message", d.MaxRecipientsPerMessage)
        ?? MessageSize(d.MessageSizeLimit)
        ?? Score("spam_threshold", d.SpamThreshold)
        ?? Optional("spam_action", d.SpamAction, Actions)
        ?? Score("auto_junk_threshold", d.AutoJunkThreshold)
        ?? (d.VacationMessage is null ? "vacation_message is required" : VacationMessage(d.VacationMessage))
        ?? (d.ForwardTo is null ? "forward_to is required" : Forward(d.ForwardTo));

    public static string? Check(MailboxOverrides o) =>
        Count("max_send_per_day", o.MaxSendPerDay)
        ?? Count("max_recipients_per_message", o.MaxRecipientsPerMessage)
        ?? MessageSize(o.MessageSizeLimit)
        ?? Score("spam_threshold", o.SpamThreshold)
        ?? Optional("spam_action", o.SpamAction, Actions)
        ?? Score("auto_junk_threshold", o.AutoJunkThreshold)
        ?? (o.VacationMessage is null ? null : VacationMessage(o.VacationMessage))
        ?? (o.ForwardTo is null ? null : Forward(o.ForwardTo));

    /// <summary>Canonical spelling of the list fields: single spaces, lower-case names.</summary>
    public static GlobalConfig Normalize(GlobalConfig g) => g with
    {
        RelayNetworks = Words(g.RelayNetworks),
        SpamRemoteHost = g.SpamRemoteHost.Trim().ToLowerInvariant(),
        SpamRemoteNetwork = Words(g.SpamRemoteNetwork),
        DnsblZones = Words(g.DnsblZones).ToLowerInvariant(),
    };

    public static AntispamConfig Normalize(AntispamConfig a) => a with { DnsblZones = Words(a.DnsblZones).ToLowerInvariant() };

    /// <summary>"" stays "" (no forwarding); a list becomes "a@x, b@y" (see Validate.AddressList).</summary>
    public static string? NormalizeForward(string? forwardTo) =>
        string.IsNullOrWhiteSpace(forwardTo) ? forwardTo?.Trim() : Validate.AddressList(forwardTo, out _);

    static string Words(string value) => string.Join(' ', value.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    static string? MessageSize(long? value) => Validate.Range("message_size_limit", value, MinMessageSize, Validate.MaxBytes);

    static string? Bytes(string field, long? value) => Validate.Range(field, value, 0, Validate.MaxBytes);

    static string? Count(string field, long? value) => Validate.Range(field, value, 0, Validate.MaxCount);

    static string? Score(string field, double? value) => Validate.Range(field, value, 0, MaxSpamScore);

    static string? Optional(string field, string? value, string[] allowed) => value is null ? null : Validate.OneOf(field, value, allowed);

    static string? SpamHost(string? host)
    {
        if (host is null) return "spam_remote_host is required";
        var h = host.Trim();
        return h.Length == 0 || Validate.IsHostName(h) || Validate.IsIpLiteral(h)
            ? null
            : "spam_remote_host must be empty, a host name or an IP address";
    }

    static string? Antispam(string? zones, long delay, long maxAge)
    {
        if (Validate.DomainList("dnsbl_zones", zones) is { } error) return error;
        if (delay < 0 || maxAge < 0) return "greylist delay and max-age must be non-negative";
        return Validate.Range("greylist_delay_seconds", delay, 0, MaxGreylistDelaySeconds)
            ?? Validate.Range("greylist_max_age_days", maxAge, 0, MaxGreylistAgeDays);
    }

    static string? VacationMessage(string text) =>
        text.Length > MaxVacationMessage ? $"vacation_message must be at most {MaxVacationMessage} characters"
        : !Validate.IsPlainText(text) ? "vacation_message must not contain control characters other than tab and line breaks"
        : null;

    static string? Forward(string value)
    {
        if (value.Trim().Length == 0) return null;
        Validate.AddressList(value, out var error);
        return error is null ? null : $"forward_to: {error}";
    }
}
