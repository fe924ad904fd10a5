using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

internal sealed record Alias(long Id, long DomainId, string Source, string Destination, string CreatedAt);

internal static class AliasStore
{
    const string Columns = "id, domain_id, source, destination, created_at";

    static Alias Map(SqliteDataReader r) => new(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4));

    /// <summary>One page, optionally of one domain's aliases ($domain NULL = all).</summary>
    public static (List<Alias> Rows, long Total) List(Db db, Page page, long? domainId)
    {
        const string Count = "SELECT COUNT(*) FROM aliases WHERE $domain IS NULL OR domain_id = $domain";
        const string Select = $"SELECT {Columns} FROM aliases WHERE $domain IS NULL OR domain_id = $domain ORDER BY id LIMIT $limit OFFSET $offset";
        using var connection = db.Open();
        var total = connection.Command(Count, ("$domain", domainId)).Scalar();
        var rows = connection.Command(Select, ("$domain", domainId), ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map);
        return (rows, total);
    }

    public static Alias? Get(Db db, long id)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM aliases WHERE id = $id", ("$id", id)).ReadOne(Map);
    }

    public static bool SourceExists(Db.Write write, string source) =>
        write.Command("SELECT COUNT(*) FROM aliases WHERE source = $source", ("$source", source)).Scalar() > 0;

    public static long CountInDomain(Db.Write write, long domainId) =>
        write.Command("SELECT COUNT(*) FROM aliases WHERE domain_id = $domain", ("$domain", domainId)).Scalar();

    /// <summary>The domain's max_aliases: its override when set, else domain_defaults.</summary>
    public static long MaxInDomain(Db.Write write, long domainId) =>
        write.Command("""
            SELECT COALESCE(o.max_aliases, d.max_aliases)
            FROM domain_defaults d LEFT JOIN domain_overrides o ON o.domain_id = $domain
            WHERE d.id = 1
            """, ("$domain", domainId)).Scalar();

    public static Alias Insert(Db.Write write, long domainId, string source, string destination) =>
        write.Command($"""
            INSERT INTO aliases(domain_id, source, destination, created_at)
            VALUES($domain, $source, $destination, $now) RETURNING {Columns}
            """,
            ("$domain", domainId), ("$source", source), ("$destination", destination), ("$now", Clock.Now())).ReadOne(Map)!;

    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM aliases WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;
}
