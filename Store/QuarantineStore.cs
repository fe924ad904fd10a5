using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// A quarantined message's record (its bytes are a file beside the database, see Rules/QuarantineRules.cs).
/// <paramref name="Recipients"/>: the envelope recipients it was withheld from; <paramref name="Reason"/>:
/// "spam" or "virus"; <paramref name="Score"/>: SpamAssassin's score, null when spamd gave none.
/// </summary>
internal sealed record QuarantineEntry(long Id, string ReceivedAt, string Sender, IReadOnlyList<string> Recipients, double? Score,
    string Reason, string Virus, long Size, string Subject);

/// <summary>
/// quarantine: messages the milter withheld. Runtime state like the policy tables (made at start-up
/// when missing, not a schema version, not part of a backup: the message files are not either).
/// </summary>
internal static class QuarantineStore
{
    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS quarantine(
            id          INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            sender      TEXT NOT NULL,
            recipients  TEXT NOT NULL,
            score       REAL,
            reason      TEXT NOT NULL CHECK (reason IN ('spam', 'virus')),
            virus       TEXT NOT NULL DEFAULT '',
            size        INTEGER NOT NULL,
            subject     TEXT NOT NULL);
        """;

    public static void Create(SqliteConnection connection) => connection.Command(CreateSql).ExecuteNonQuery();

    const string Columns = "id, received_at, sender, recipients, score, reason, virus, size, subject";

    /// <summary>Recipients are stored one per line (an address holds no newline).</summary>
    static QuarantineEntry Map(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2),
        r.GetString(3).Split('\n', StringSplitOptions.RemoveEmptyEntries), r.NullableDouble(4), r.GetString(5), r.GetString(6), r.GetInt64(7), r.GetString(8));

    const string ListSql = $"SELECT {Columns} FROM quarantine ORDER BY id DESC LIMIT $limit OFFSET $offset";

    /// <summary>Newest first.</summary>
    public static (List<QuarantineEntry> Rows, long Total) List(Db db, Page page)
    {
        using var connection = db.Open();
        var total = connection.Command("SELECT COUNT(*) FROM quarantine").Scalar();
        return (connection.Command(ListSql, ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map), total);
    }

    public static QuarantineEntry? Get(Db db, long id)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM quarantine WHERE id = $id", ("$id", id)).ReadOne(Map);
    }

    const string InsertSql = $"""
        INSERT INTO quarantine(received_at, sender, recipients, score, reason, virus, size, subject)
        VALUES($at, $sender, $recipients, $score, $reason, $virus, $size, $subject)
        RETURNING {Columns}
        """;

    public static QuarantineEntry Insert(Db.Write write, string receivedAt, string sender, IReadOnlyList<string> recipients, double? score,
        string reason, string virus, long size, string subject) =>
        write.Command(InsertSql, ("$at", receivedAt), ("$sender", sender), ("$recipients", string.Join('\n', recipients)), ("$score", score),
            ("$reason", reason), ("$virus", virus), ("$size", size), ("$subject", subject)).ReadOne(Map)!;

    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM quarantine WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;
}
