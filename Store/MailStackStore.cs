using Microsoft.Data.Sqlite;

namespace MailPanel;

/// <summary>
/// A mail login as the renderer needs it: address parts, stored hash and the few effective settings
/// the mail stack uses (resolved by Store/Effective.cs like the /effective routes). Kept this small on
/// purpose: a reconcile holds 100,000 of them.
/// </summary>
internal sealed record MailUser(string Domain, string Username, string PasswordHash, long QuotaBytes,
    bool EnabledImap, bool EnabledPop3, bool EnabledSmtp, bool MailboxActive, bool DomainActive)
{
    public MailUser(string passwordHash, MailboxEffective m)
        : this(m.DomainName, m.MailboxUsername, passwordHash, m.QuotaBytes, m.EnabledImap, m.EnabledPop3, m.EnabledSmtp, m.MailboxActive, m.DomainActive)
    {
    }

    /// <summary>Built once: the renderer sorts 100,000 of these by address.</summary>
    public string Address { get; } = Username + "@" + Domain;
}

/// <summary>An alias row with its domain's active flag.</summary>
internal sealed record MailAlias(string Source, string Destination, bool DomainActive);

/// <summary>A registered certificate (tls_certs).</summary>
internal sealed record MailCert(string Hostname, string CertPath, string KeyPath, string Issuer);

/// <summary>
/// Everything one render of the mail stack needs, read in ONE read transaction so the files agree
/// with each other. Lists are in store order (by id); the renderer sorts what it writes.
/// </summary>
internal sealed record MailStackSnapshot(
    GlobalConfig Global,
    IReadOnlyList<DomainEffective> Domains,
    IReadOnlyList<MailUser> Users,
    IReadOnlyList<MailAlias> Aliases,
    IReadOnlyList<MailCert> Certs);

internal static class MailStackStore
{
    const string AliasesSql = "SELECT a.source, a.destination, d.active FROM aliases a JOIN domains d ON d.id = a.domain_id ORDER BY a.id";
    const string CertsSql = "SELECT hostname, cert_path, key_path, issuer FROM tls_certs ORDER BY id";

    static MailAlias MapAlias(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.Bool(2));

    static MailCert MapCert(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3));

    public static MailStackSnapshot Load(Db db)
    {
        using var snapshot = new ConfigStore.Snapshot(db);
        // The tiers are resolved by the same code as the /effective routes (Store/Effective.cs).
        var (domains, users) = ConfigStore.ResolveEach(snapshot, (m, hash) => new MailUser(hash!, m), withHash: true);
        var aliases = snapshot.Command(AliasesSql).ReadAll(MapAlias);
        var certs = snapshot.Command(CertsSql).ReadAll(MapCert);
        return new MailStackSnapshot(snapshot.Global, domains, users, aliases, certs);
    }
}
