using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

internal sealed record WhitelistEntry(long Id, string EntryType, string Value, string Note, string CreatedAt);

/// <summary>antispam_whitelist: senders and networks that bypass DNSBL and greylisting (section 10).</summary>
internal static class WhitelistStore
{
    const string Columns = "id, entry_type, value, note, created_at";

    static WhitelistEntry Map(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4));

    const string ListSql = $"SELECT {Columns} FROM antispam_whitelist ORDER BY id LIMIT $limit OFFSET $offset";

    public static (List<WhitelistEntry> Rows, long Total) List(Db db, Page page)
    {
        using var connection = db.Open();
        var total = connection.Command("SELECT COUNT(*) FROM antispam_whitelist").Scalar();
        var rows = connection.Command(ListSql, ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map);
        return (rows, total);
    }

    /// <summary>Every entry, ordered by id (the renderer's input).</summary>
    public static List<WhitelistEntry> All(Db db)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM antispam_whitelist ORDER BY id").ReadAll(Map);
    }

    public static bool Exists(Db.Write write, string entryType, string value) =>
        write.Command("SELECT COUNT(*) FROM antispam_whitelist WHERE entry_type = $type AND value = $value",
            ("$type", entryType), ("$value", value)).Scalar() > 0;

    const string InsertSql = $"""
        INSERT INTO antispam_whitelist(entry_type, value, note, created_at) VALUES($type, $value, $note, $now)
        RETURNING {Columns}
        """;

    public static WhitelistEntry Insert(Db.Write write, string entryType, string value, string note) =>
        write.Command(InsertSql, ("$type", entryType), ("$value", value), ("$note", note), ("$now", Clock.Now())).ReadOne(Map)!;

    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM antispam_whitelist WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;
}
