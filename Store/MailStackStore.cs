using Microsoft.Data.Sqlite;

namespace MailPanel;

/// <summary>A mail login as the renderer needs it: address parts, stored hash, effective settings.</summary>
internal sealed record MailUser(string Domain, string Username, string PasswordHash, MailboxEffective Effective)
{
    public string Address => Username + "@" + Domain;
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
    const string HashesSql = "SELECT id, password_hash FROM mailboxes";
    const string AliasesSql = "SELECT a.source, a.destination, d.active FROM aliases a JOIN domains d ON d.id = a.domain_id ORDER BY a.id";
    const string CertsSql = "SELECT hostname, cert_path, key_path, issuer FROM tls_certs ORDER BY id";

    static MailAlias MapAlias(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.Bool(2));

    static MailCert MapCert(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3));

    public static MailStackSnapshot Load(Db db)
    {
        using var snapshot = new ConfigStore.Snapshot(db);
        // The tiers are resolved by the same code as the /effective routes (Store/Effective.cs).
        var effective = ConfigStore.ResolveAll(snapshot);
        var hashes = new Dictionary<long, string>(effective.Mailboxes.Count);
        using (var reader = snapshot.Command(HashesSql).ExecuteReader())
            while (reader.Read()) hashes[reader.GetInt64(0)] = reader.GetString(1);
        var users = new List<MailUser>(effective.Mailboxes.Count);
        foreach (var m in effective.Mailboxes)
            users.Add(new MailUser(m.DomainName, m.MailboxUsername, hashes[m.MailboxId], m));
        var aliases = snapshot.Command(AliasesSql).ReadAll(MapAlias);
        var certs = snapshot.Command(CertsSql).ReadAll(MapCert);
        return new MailStackSnapshot(effective.Global, effective.Domains, users, aliases, certs);
    }
}
