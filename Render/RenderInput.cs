using MailPanel.Core;

namespace MailPanel.Render;

/// <summary>
/// A mail login as the renderer needs it: address parts, stored hash and the few effective settings
/// the mail stack uses (resolved by Store/Effective.cs like the /effective routes). Kept this small on
/// purpose: a reconcile holds 100,000 of them.
/// </summary>
internal sealed record MailUser(string Domain, string Username, string PasswordHash, long QuotaBytes,
    bool EnabledImap, bool EnabledPop3, bool EnabledSmtp, bool MailboxActive, bool DomainActive, bool RequireTls = false,
    double AutoJunkThreshold = MailUser.DefaultAutoJunk)
{
    /// <summary>mailbox_defaults.auto_junk_threshold as created.</summary>
    public const double DefaultAutoJunk = 7.0;

    public MailUser(string passwordHash, MailboxEffective m)
        : this(m.DomainName, m.MailboxUsername, passwordHash, m.QuotaBytes, m.EnabledImap, m.EnabledPop3, m.EnabledSmtp, m.MailboxActive, m.DomainActive,
            m.RequireTlsClient, m.AutoJunkThreshold)
    {
    }

    public string Address => Username + "@" + Domain;
}

/// <summary>
/// The mailboxes of a snapshot, every time in <see cref="AddressOrder"/>: streamed from the store's
/// read transaction (each enumeration is one indexed scan), or a sorted list (tests).
/// </summary>
internal sealed class MailUsers(int count, Func<IEnumerable<MailUser>> inOrder)
{
    public int Count => count;

    public IEnumerable<MailUser> InOrder() => inOrder();

    public static MailUsers Of(IEnumerable<MailUser> users)
    {
        var list = users.OrderBy(u => u.Address.ToLowerInvariant(), AddressOrder.Instance).ToList();
        return new MailUsers(list.Count, () => list);
    }
}

/// <summary>A mailbox whose effective forward_to is set: its targets (normalized address list) and whether it keeps a copy.</summary>
internal sealed record MailForward(string Address, string ForwardTo, bool KeepCopy, bool Active);

/// <summary>A mailbox whose effective vacation_enabled is true: its vacation_message, as written.</summary>
internal sealed record MailVacation(string Address, string Message, bool Active);

/// <summary>An alias row with its domain's active flag.</summary>
internal sealed record MailAlias(string Source, string Destination, bool DomainActive);

/// <summary>A DKIM key (dkim_keys); <paramref name="Present"/>: its private key file exists (checked by Mail/ before rendering).</summary>
internal sealed record MailDkimKey(string Domain, string Selector, string PrivateKeyPath, string CreatedAt, long Id, bool Present = true);

/// <summary>
/// A registered certificate (tls_certs). <paramref name="Stamp"/>: a digest of its chain and key files
/// (read by Mail/ before rendering; empty = a file is missing, so it is never configured). The
/// configs name it, so a renewal or re-upload that keeps the paths still changes them and reloads.
/// </summary>
internal sealed record MailCert(string Hostname, string CertPath, string KeyPath, string Issuer, string Stamp = "present")
{
    public bool Present => Stamp.Length > 0;
}

/// <summary>An anti-spam whitelist entry (antispam_whitelist), stored canonical: ip, cidr, domain or email and its value.</summary>
internal sealed record MailWhitelistEntry(string EntryType, string Value);

/// <summary>
/// Everything one render of the mail stack needs, read in ONE read transaction so the files agree
/// with each other. Lists are in store order (by id), the renderer sorts them; the mailboxes come
/// already in address order (<see cref="MailUsers"/>).
/// </summary>
internal sealed record MailStackSnapshot(
    GlobalConfig Global,
    IReadOnlyList<DomainEffective> Domains,
    MailUsers Users,
    IReadOnlyList<MailAlias> Aliases,
    IReadOnlyList<MailCert> Certs,
    IReadOnlyList<MailDkimKey> DkimKeys)
{
    /// <summary>Mailboxes that forward (few; read whole). Rendered into valias.</summary>
    public IReadOnlyList<MailForward> Forwards { get; init; } = [];

    /// <summary>Mailboxes on vacation (few; read whole). One Sieve script each.</summary>
    public IReadOnlyList<MailVacation> Vacations { get; init; } = [];

    /// <summary>mailbox_defaults.auto_junk_threshold: dovecot.conf's default; a mailbox that differs carries its own in the users dict.</summary>
    public double AutoJunkDefault { get; init; } = MailUser.DefaultAutoJunk;

    /// <summary>The anti-spam whitelist (few; read whole). Rendered into the DNSBL's whitelist tables.</summary>
    public IReadOnlyList<MailWhitelistEntry> Whitelist { get; init; } = [];
}
