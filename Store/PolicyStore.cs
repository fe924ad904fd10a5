using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// The policy service's state: messages sent per SASL user per UTC day, and greylisting triplets.
/// Runtime state, not data-plane rows: the tables are made at start-up when missing (not a schema
/// version, so backups stay restorable across builds) and are not part of a backup.
/// </summary>
internal static class PolicyStore
{
    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS policy_send_counts(
            username TEXT NOT NULL,
            day      TEXT NOT NULL,
            count    INTEGER NOT NULL,
            PRIMARY KEY(username, day)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS policy_greylist(
            client     TEXT NOT NULL,
            sender     TEXT NOT NULL,
            recipient  TEXT NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen  INTEGER NOT NULL,
            passed     INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY(client, sender, recipient)) WITHOUT ROWID;
        """;

    public static void Create(SqliteConnection connection) => connection.Command(CreateSql).ExecuteNonQuery();

    const string MailboxIdSql = """
        SELECT m.id FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE d.name = $domain AND m.username = $local
        """;

    /// <summary>The mailbox id of a lower-case address, or null when it is not a mailbox here.</summary>
    public static long? MailboxId(Db db, string local, string domain)
    {
        using var connection = db.Open();
        var id = connection.Command(MailboxIdSql, ("$domain", domain), ("$local", local)).ExecuteScalar();
        return id is long l ? l : null;
    }

    public static long SentToday(Db db, string username, string day)
    {
        using var connection = db.Open();
        return connection.Command("SELECT count FROM policy_send_counts WHERE username = $u AND day = $d", ("$u", username), ("$d", day)).Scalar();
    }

    const string CountSql = """
        INSERT INTO policy_send_counts(username, day, count) VALUES($u, $d, 1)
        ON CONFLICT(username, day) DO UPDATE SET count = count + 1
        """;

    /// <summary>
    /// One more message sent per entry (a user may appear more than once), in one transaction;
    /// each user's days before yesterday are dropped on the way.
    /// </summary>
    public static async Task CountMessages(Db db, IReadOnlyList<(string Username, string Day, string Yesterday)> messages)
    {
        using var write = await db.BeginRuntimeWrite();
        using var count = write.Command(CountSql, ("$u", ""), ("$d", ""));
        using var drop = write.Command("DELETE FROM policy_send_counts WHERE username = $u AND day < $y", ("$u", ""), ("$y", ""));
        foreach (var (username, day, yesterday) in messages)
        {
            count.Parameters["$u"].Value = username;
            count.Parameters["$d"].Value = day;
            count.ExecuteNonQuery();
            drop.Parameters["$u"].Value = username;
            drop.Parameters["$y"].Value = yesterday;
            drop.ExecuteNonQuery();
        }
        write.Commit();
    }

    /// <summary>When the triplet was first and last seen and whether it already passed, or null for a new one.</summary>
    public static (long FirstSeen, long LastSeen, bool Passed)? Triplet(Db db, string client, string sender, string recipient)
    {
        using var connection = db.Open();
        using var reader = connection.Command("SELECT first_seen, last_seen, passed FROM policy_greylist WHERE client = $c AND sender = $s AND recipient = $r",
            ("$c", client), ("$s", sender), ("$r", recipient)).ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2) != 0) : null;
    }

    const string SeenSql = """
        INSERT INTO policy_greylist(client, sender, recipient, first_seen, last_seen, passed) VALUES($c, $s, $r, $now, $now, $passed)
        ON CONFLICT(client, sender, recipient) DO UPDATE SET last_seen = $now, passed = MAX(passed, $passed)
        """;

    public static async Task Seen(Db db, string client, string sender, string recipient, long now, bool passed)
    {
        using var write = await db.BeginRuntimeWrite();
        write.Command(SeenSql, ("$c", client), ("$s", sender), ("$r", recipient), ("$now", now), ("$passed", passed ? 1 : 0)).ExecuteNonQuery();
        write.Commit();
    }

    /// <summary>Drops triplets not seen since <paramref name="before"/> (unix seconds); returns how many.</summary>
    public static async Task<int> Prune(Db db, long before)
    {
        using var write = await db.BeginRuntimeWrite();
        var n = write.Command("DELETE FROM policy_greylist WHERE last_seen < $before", ("$before", before)).ExecuteNonQuery();
        write.Commit();
        return n;
    }
}
