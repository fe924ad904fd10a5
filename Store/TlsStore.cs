using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>A tls_certs row. <paramref name="ExpiresAt"/>: null when unknown (GET omits it).</summary>
internal sealed record TlsCert(long Id, string Hostname, string CertPath, string KeyPath, string Issuer, string? ExpiresAt, string CreatedAt);

/// <summary>tls_certs (section 9): one registration per &lt;hostname, issuer&gt;; the PEM files themselves stay on disk.</summary>
internal static class TlsStore
{
    const string Columns = "id, hostname, cert_path, key_path, issuer, expires_at, created_at";

    static TlsCert Map(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.NullableString(5), r.GetString(6));

    const string ListSql = $"SELECT {Columns} FROM tls_certs ORDER BY id LIMIT $limit OFFSET $offset";

    public static (List<TlsCert> Rows, long Total) List(Db db, Page page)
    {
        using var connection = db.Open();
        var total = connection.Command("SELECT COUNT(*) FROM tls_certs").Scalar();
        return (connection.Command(ListSql, ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map), total);
    }

    public static List<TlsCert> ByIssuer(Db db, string issuer)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM tls_certs WHERE issuer = $issuer ORDER BY id", ("$issuer", issuer)).ReadAll(Map);
    }

    // A new upload (or issue) for the same hostname and issuer replaces the registration.
    const string UpsertSql = $"""
        INSERT INTO tls_certs(hostname, cert_path, key_path, issuer, expires_at, created_at) VALUES($host, $cert, $key, $issuer, $expires, $now)
        ON CONFLICT(hostname, issuer) DO UPDATE SET cert_path = excluded.cert_path, key_path = excluded.key_path,
            expires_at = excluded.expires_at, created_at = excluded.created_at
        RETURNING {Columns}
        """;

    public static TlsCert Upsert(Db.Write write, string hostname, string certPath, string keyPath, string issuer, string? expiresAt) =>
        write.Command(UpsertSql, ("$host", hostname), ("$cert", certPath), ("$key", keyPath), ("$issuer", issuer),
            ("$expires", expiresAt), ("$now", Clock.Now())).ReadOne(Map)!;

    public static bool SetExpiry(Db.Write write, long id, string? expiresAt) =>
        write.Command("UPDATE tls_certs SET expires_at = $expires WHERE id = $id", ("$id", id), ("$expires", expiresAt)).ExecuteNonQuery() == 1;

    /// <summary>True when the row existed.</summary>
    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM tls_certs WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;
}
