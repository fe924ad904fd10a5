using MailPanel.Core;

namespace MailPanel.Store;

internal sealed record ApiToken(long Id, string Name, string CreatedAt, string? LastUsedAt);

/// <summary>Managed API tokens. Only a SHA-256 of each secret is stored.</summary>
internal static class TokenStore
{
    const string Columns = "id, name, created_at, last_used_at";

    static ApiToken Map(Microsoft.Data.Sqlite.SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.NullableString(3));

    public static (List<ApiToken> Rows, long Total) List(Db db, Page page)
    {
        using var connection = db.Open();
        var total = connection.Command("SELECT COUNT(*) FROM api_tokens").Scalar();
        var rows = connection.Command($"SELECT {Columns} FROM api_tokens ORDER BY id LIMIT $limit OFFSET $offset",
            ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map);
        return (rows, total);
    }

    public static bool NameExists(Db.Write write, string name) =>
        write.Command("SELECT COUNT(*) FROM api_tokens WHERE name = $name", ("$name", name)).Scalar() > 0;

    /// <summary>Inserts a row with a placeholder hash; the caller sets the real one once the id (part of the secret) is known.</summary>
    public static ApiToken Insert(Db.Write write, string name) =>
        write.Command($"INSERT INTO api_tokens(name, token_hash, created_at) VALUES($name, zeroblob(32), $now) RETURNING {Columns}",
            ("$name", name), ("$now", Clock.Now())).ReadOne(Map)!;

    public static ApiToken? Get(Db.Write write, long id) =>
        write.Command($"SELECT {Columns} FROM api_tokens WHERE id = $id", ("$id", id)).ReadOne(Map);

    public static void SetHash(Db.Write write, long id, byte[] hash) =>
        write.Command("UPDATE api_tokens SET token_hash = $hash WHERE id = $id", ("$hash", hash), ("$id", id)).ExecuteNonQuery();

    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM api_tokens WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;

    public static Dictionary<long, byte[]> Hashes(Db db)
    {
        using var connection = db.Open();
        var map = new Dictionary<long, byte[]>();
        using var reader = connection.Command("SELECT id, token_hash FROM api_tokens").ExecuteReader();
        while (reader.Read()) map[reader.GetInt64(0)] = (byte[])reader.GetValue(1);
        return map;
    }

    public static async Task Touch(Db db, long id, string when)
    {
        using var write = await db.BeginWrite();
        write.Command("UPDATE api_tokens SET last_used_at = $when WHERE id = $id", ("$when", when), ("$id", id)).ExecuteNonQuery();
        write.Commit();
    }
}
