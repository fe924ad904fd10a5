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

    public string Address => Username + "@" + Domain;
}

/// <summary>
/// The order every per-mailbox file is written in: by domain, then by local part (ordinal, on the
/// lower-cased address). It is the order of the store's unique indexes, so the mailboxes can be
/// streamed from SQLite already sorted, and the one the apply's diffs walk.
/// </summary>
internal sealed class AddressOrder : IComparer<string>
{
    public static readonly AddressOrder Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null) return string.CompareOrdinal(x, y);
        var ax = x.LastIndexOf('@');
        var ay = y.LastIndexOf('@');
        var byDomain = string.CompareOrdinal(x[(ax + 1)..], y[(ay + 1)..]);
        return byDomain != 0 ? byDomain : string.CompareOrdinal(x[..Math.Max(ax, 0)], y[..Math.Max(ay, 0)]);
    }
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

/// <summary>An alias row with its domain's active flag.</summary>
internal sealed record MailAlias(string Source, string Destination, bool DomainActive);

/// <summary>A registered certificate (tls_certs).</summary>
internal sealed record MailCert(string Hostname, string CertPath, string KeyPath, string Issuer);

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
    IReadOnlyList<MailCert> Certs);

internal static class MailStackStore
{
    const string AliasesSql = "SELECT a.source, a.destination, d.active FROM aliases a JOIN domains d ON d.id = a.domain_id ORDER BY a.id";
    const string CertsSql = "SELECT hostname, cert_path, key_path, issuer FROM tls_certs ORDER BY id";

    static MailAlias MapAlias(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.Bool(2));

    static MailCert MapCert(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3));

    const string CountSql = "SELECT COUNT(*) FROM mailboxes";

    /// <summary>
    /// Opens the read transaction and the snapshot on it. The mailboxes are read while the files are
    /// rendered, so the caller keeps the returned transaction open until rendering is done.
    /// </summary>
    public static (MailStackSnapshot Snapshot, IDisposable Transaction) Open(Db db)
    {
        var snapshot = new ConfigStore.Snapshot(db);
        try
        {
            // The tiers are resolved by the same code as the /effective routes (Store/Effective.cs).
            var domains = ConfigStore.ResolveDomains(snapshot);
            var byId = domains.ToDictionary(d => d.DomainId);
            var count = Convert.ToInt32(snapshot.Command(CountSql).ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            var users = new MailUsers(count, () => ConfigStore.StreamMailboxesByAddress(snapshot, byId, (m, hash) => new MailUser(hash, m)));
            var aliases = snapshot.Command(AliasesSql).ReadAll(MapAlias);
            var certs = snapshot.Command(CertsSql).ReadAll(MapCert);
            return (new MailStackSnapshot(snapshot.Global, domains, users, aliases, certs), snapshot);
        }
        catch
        {
            snapshot.Dispose();
            throw;
        }
    }
}
