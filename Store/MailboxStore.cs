using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>A mailbox as the API shows it: the password hash stays in the store.</summary>
internal sealed record Mailbox(long Id, long DomainId, string Username, long Quota, bool Active, string CreatedAt);

internal static class MailboxStore
{
    const string Columns = "id, domain_id, username, quota, active, created_at";

    static Mailbox Map(SqliteDataReader r) => new(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.Bool(4), r.GetString(5));

    /// <summary>One page, optionally of one domain's mailboxes ($domain NULL = all).</summary>
    public static (List<Mailbox> Rows, long Total) List(Db db, Page page, long? domainId)
    {
        const string Count = "SELECT COUNT(*) FROM mailboxes WHERE $domain IS NULL OR domain_id = $domain";
        const string Select = $"SELECT {Columns} FROM mailboxes WHERE $domain IS NULL OR domain_id = $domain ORDER BY id LIMIT $limit OFFSET $offset";
        using var connection = db.Open();
        var total = connection.Command(Count, ("$domain", domainId)).Scalar();
        var rows = connection.Command(Select, ("$domain", domainId), ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map);
        return (rows, total);
    }

    public static Mailbox? Get(Db db, long id)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM mailboxes WHERE id = $id", ("$id", id)).ReadOne(Map);
    }

    public static Mailbox? Get(Db.Write write, long id) =>
        write.Command($"SELECT {Columns} FROM mailboxes WHERE id = $id", ("$id", id)).ReadOne(Map);

    public static bool Exists(Db.Write write, long domainId, string username) =>
        write.Command("SELECT COUNT(*) FROM mailboxes WHERE domain_id = $domain AND username = $username",
            ("$domain", domainId), ("$username", username)).Scalar() > 0;

    public static long CountInDomain(Db.Write write, long domainId) =>
        write.Command("SELECT COUNT(*) FROM mailboxes WHERE domain_id = $domain", ("$domain", domainId)).Scalar();

    /// <summary>The domain's max_mailboxes: its override when set, else domain_defaults.</summary>
    public static long MaxInDomain(Db.Write write, long domainId) =>
        write.Command("""
            SELECT COALESCE(o.max_mailboxes, d.max_mailboxes)
            FROM domain_defaults d LEFT JOIN domain_overrides o ON o.domain_id = $domain
            WHERE d.id = 1
            """, ("$domain", domainId)).Scalar();

    public static Mailbox Insert(Db.Write write, long domainId, string username, string passwordHash, long quota) =>
        write.Command($"""
            INSERT INTO mailboxes(domain_id, username, password_hash, quota, active, created_at)
            VALUES($domain, $username, $hash, $quota, 1, $now) RETURNING {Columns}
            """,
            ("$domain", domainId), ("$username", username), ("$hash", passwordHash), ("$quota", quota), ("$now", Clock.Now())).ReadOne(Map)!;

    public static Mailbox? Update(Db.Write write, long id, long quota, bool active) =>
        write.Command($"UPDATE mailboxes SET quota = $quota, active = $active WHERE id = $id RETURNING {Columns}",
            ("$quota", quota), ("$active", active), ("$id", id)).ReadOne(Map);

    public static bool SetPassword(Db.Write write, long id, string passwordHash) =>
        write.Command("UPDATE mailboxes SET password_hash = $hash WHERE id = $id", ("$hash", passwordHash), ("$id", id)).ExecuteNonQuery() == 1;

    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM mailboxes WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;
}
