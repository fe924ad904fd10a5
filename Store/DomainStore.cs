using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

internal sealed record Domain(long Id, string Name, bool Active, string OutgoingIp, string CreatedAt);

internal static class DomainStore
{
    const string Columns = "id, name, active, outgoing_ip, created_at";

    static Domain Map(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.Bool(2), r.GetString(3), r.GetString(4));

    public static (List<Domain> Rows, long Total) List(Db db, Page page)
    {
        using var connection = db.Open();
        var total = connection.Command("SELECT COUNT(*) FROM domains").Scalar();
        var rows = connection.Command($"SELECT {Columns} FROM domains ORDER BY id LIMIT $limit OFFSET $offset",
            ("$limit", page.Limit), ("$offset", page.Offset)).ReadAll(Map);
        return (rows, total);
    }

    public static Domain? Get(Db db, long id)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM domains WHERE id = $id", ("$id", id)).ReadOne(Map);
    }

    public static Domain? Get(Db.Write write, long id) =>
        write.Command($"SELECT {Columns} FROM domains WHERE id = $id", ("$id", id)).ReadOne(Map);

    public static Domain? GetByName(Db.Write write, string name) =>
        write.Command($"SELECT {Columns} FROM domains WHERE name = $name", ("$name", name)).ReadOne(Map);

    public static Domain? GetByName(Db db, string name)
    {
        using var connection = db.Open();
        return connection.Command($"SELECT {Columns} FROM domains WHERE name = $name", ("$name", name)).ReadOne(Map);
    }

    public static Domain Insert(Db.Write write, string name, string outgoingIp) =>
        write.Command($"INSERT INTO domains(name, active, outgoing_ip, created_at) VALUES($name, 1, $ip, $now) RETURNING {Columns}",
            ("$name", name), ("$ip", outgoingIp), ("$now", Clock.Now())).ReadOne(Map)!;

    public static Domain? Update(Db.Write write, long id, bool active, string outgoingIp) =>
        write.Command($"UPDATE domains SET active = $active, outgoing_ip = $ip WHERE id = $id RETURNING {Columns}",
            ("$active", active), ("$ip", outgoingIp), ("$id", id)).ReadOne(Map);

    public static bool Delete(Db.Write write, long id) =>
        write.Command("DELETE FROM domains WHERE id = $id", ("$id", id)).ExecuteNonQuery() == 1;

    /// <summary>How many domains send from each outgoing IP (for outgoing_ip "auto").</summary>
    public static Dictionary<string, long> OutgoingIpUse(Db.Write write)
    {
        var use = new Dictionary<string, long>(StringComparer.Ordinal);
        using var reader = write.Command("SELECT outgoing_ip, COUNT(*) FROM domains WHERE outgoing_ip <> '' GROUP BY outgoing_ip").ExecuteReader();
        while (reader.Read()) use[reader.GetString(0)] = reader.GetInt64(1);
        return use;
    }
}
