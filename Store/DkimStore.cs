using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>A dkim_keys row: where the private key is and the TXT record that publishes its public half.</summary>
internal sealed record DkimKey(long Id, string Domain, string Selector, string PrivateKeyPath, string DnsRecord, string CreatedAt);

/// <summary>dkim_keys (section 8): one row per &lt;domain, selector&gt;; the private keys themselves are files.</summary>
internal static class DkimStore
{
    const string Columns = "id, domain, selector, private_key_path, dns_record, created_at";

    static DkimKey Map(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5));

    const string ListSql = $"SELECT {Columns} FROM dkim_keys ORDER BY domain, selector LIMIT $limit OFFSET $offset";

    public static (List<DkimKey> Rows, long Total) List(Db db, Page page)
    {
        using var connection = db.Open();
        var total = connection.Command("SELECT COUNT(*) FROM dkim_keys").Scalar();
        return (connection.Command(ListSql, ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map), total);
    }

    /// <summary>The domain's keys, newest first (the first one signs, as the OpenDKIM render picks it).</summary>
    public static List<DkimKey> ForDomain(Db db, string domain)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM dkim_keys WHERE domain = $domain ORDER BY created_at DESC, id DESC", ("$domain", domain)).ReadAll(Map);
    }

    public static DkimKey? Get(Db db, string domain, string selector)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM dkim_keys WHERE domain = $domain AND selector = $selector",
            ("$domain", domain), ("$selector", selector)).ReadOne(Map);
    }

    // A re-generate replaces the row's key and record and counts as a new key (created_at).
    const string UpsertSql = $"""
        INSERT INTO dkim_keys(domain, selector, private_key_path, dns_record, created_at) VALUES($domain, $selector, $path, $record, $now)
        ON CONFLICT(domain, selector) DO UPDATE SET private_key_path = excluded.private_key_path,
            dns_record = excluded.dns_record, created_at = excluded.created_at
        RETURNING {Columns}
        """;

    public static DkimKey Upsert(Db.Write write, string domain, string selector, string path, string record) =>
        write.Command(UpsertSql, ("$domain", domain), ("$selector", selector), ("$path", path), ("$record", record), ("$now", Clock.Now()))
            .ReadOne(Map)!;

    /// <summary>The deleted row, or null when there was none.</summary>
    public static DkimKey? Delete(Db.Write write, string domain, string selector) =>
        write.Command($"DELETE FROM dkim_keys WHERE domain = $domain AND selector = $selector RETURNING {Columns}",
            ("$domain", domain), ("$selector", selector)).ReadOne(Map);
}
