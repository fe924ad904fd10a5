using MailPanel.Core;

namespace MailPanel.Store;

/// <summary>The security settings row. Absent until the first PUT: until then config.env's values apply.</summary>
internal static class SecurityStore
{
    const string SelectSql = """
        SELECT rate_limit_login_per_min, rate_limit_api_per_min, admin_login_whitelist, api_key_whitelist
        FROM security_settings WHERE id = 1
        """;

    public static SecuritySettings? Load(Db db)
    {
        using var connection = db.Open();
        return connection.Command(SelectSql).ReadOne(r => new SecuritySettings(
            (int)r.GetInt64(0), (int)r.GetInt64(1), Split(r.GetString(2)), Split(r.GetString(3))));
    }

    const string UpsertSql = """
        INSERT INTO security_settings(id, rate_limit_login_per_min, rate_limit_api_per_min, admin_login_whitelist, api_key_whitelist, updated_at)
        VALUES(1, $login, $api, $adminWl, $apiWl, $now)
        ON CONFLICT(id) DO UPDATE SET rate_limit_login_per_min = $login, rate_limit_api_per_min = $api,
            admin_login_whitelist = $adminWl, api_key_whitelist = $apiWl, updated_at = $now
        """;

    public static void Save(Db.Write write, SecuritySettings s) =>
        write.Command(UpsertSql, ("$login", s.RateLimitLoginPerMin), ("$api", s.RateLimitApiPerMin),
            ("$adminWl", string.Join(' ', s.AdminLoginWhitelist)), ("$apiWl", string.Join(' ', s.ApiKeyWhitelist)),
            ("$now", Clock.Now())).ExecuteNonQuery();

    static string[] Split(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>The security settings as the API shows them (runtime-contract.md, "Security settings").</summary>
internal sealed record SecuritySettings(
    int RateLimitLoginPerMin,
    int RateLimitApiPerMin,
    IReadOnlyList<string> AdminLoginWhitelist,
    IReadOnlyList<string> ApiKeyWhitelist);
