using MailPanel.Render;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

internal static class MailStackStore
{
    const string AliasesSql = "SELECT a.source, a.destination, d.active FROM aliases a JOIN domains d ON d.id = a.domain_id ORDER BY a.id";
    const string CertsSql = "SELECT hostname, cert_path, key_path, issuer FROM tls_certs ORDER BY id";
    const string DkimSql = "SELECT domain, selector, private_key_path, created_at, id FROM dkim_keys ORDER BY id";

    const string WhitelistSql = "SELECT entry_type, value FROM antispam_whitelist ORDER BY id";

    static MailWhitelistEntry MapWhitelist(SqliteDataReader r) => new(r.GetString(0), r.GetString(1));

    static MailAlias MapAlias(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.Bool(2));

    static MailDkimKey MapDkim(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4));

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
            var dkim = snapshot.Command(DkimSql).ReadAll(MapDkim);
            var forwards = ConfigStore.ForwardingMailboxes(snapshot, byId)
                .Select(m => new MailForward(m.MailboxUsername + "@" + m.DomainName, m.ForwardTo, m.ForwardKeepCopy, m.MailboxActive && m.DomainActive)).ToList();
            var vacations = ConfigStore.VacationMailboxes(snapshot, byId)
                .Select(m => new MailVacation(m.MailboxUsername + "@" + m.DomainName, m.VacationMessage, m.MailboxActive && m.DomainActive)).ToList();
            var whitelist = snapshot.Command(WhitelistSql).ReadAll(MapWhitelist);
            return (new MailStackSnapshot(snapshot.Global, domains, users, aliases, certs, dkim)
            {
                Forwards = forwards,
                Vacations = vacations,
                Whitelist = whitelist,
                AutoJunkDefault = snapshot.Effective.MailboxDefaults.AutoJunkThreshold,
            }, snapshot);
        }
        catch
        {
            snapshot.Dispose();
            throw;
        }
    }
}
