using MailPanel.Core;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record SecuritySettingsInput(
    int? RateLimitLoginPerMin,
    int? RateLimitApiPerMin,
    IReadOnlyList<string>? AdminLoginWhitelist,
    IReadOnlyList<string>? ApiKeyWhitelist);

/// <summary>GET/PUT /api/v1/security/settings (runtime-contract.md). PUT replaces the row in full and applies at once.</summary>
internal static class SecurityApi
{
    public static void MapSecurity(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/security/settings");
        group.MapGet("/", Get);
        group.MapPut("/", Put);
    }

    static Ok<SecuritySettings> Get(Access access) => TypedResults.Ok(access.Settings);

    static async Task<Results<Ok<SecuritySettings>, JsonHttpResult<ApiError>>> Put(HttpRequest request, Db db, Access access)
    {
        var body = await Body.Read(request, AppJson.Api.SecuritySettingsInput);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (input.RateLimitLoginPerMin is null || input.RateLimitApiPerMin is null || input.AdminLoginWhitelist is null || input.ApiKeyWhitelist is null)
            return Errors.Validation("all four fields are required", "PUT replaces the settings in full");
        if (Validate.Range("rate_limit_login_per_min", input.RateLimitLoginPerMin, 1, 1_000_000) is { } e1) return Errors.Validation(e1);
        if (Validate.Range("rate_limit_api_per_min", input.RateLimitApiPerMin, 1, 100_000_000) is { } e2) return Errors.Validation(e2);
        foreach (var (field, list) in new[] { ("admin_login_whitelist", input.AdminLoginWhitelist), ("api_key_whitelist", input.ApiKeyWhitelist) })
            foreach (var rule in list)
                if (rule is null || !IpRules.TryParseRule(rule, out _))
                    return Errors.Validation($"invalid {field} entry", $"'{rule}' is not an IP address or CIDR");

        var settings = new SecuritySettings(input.RateLimitLoginPerMin.Value, input.RateLimitApiPerMin.Value,
            [.. input.AdminLoginWhitelist.Select(r => r.Trim())], [.. input.ApiKeyWhitelist.Select(r => r.Trim())]);
        using (var write = await db.BeginWrite())
        {
            SecurityStore.Save(write, settings);
            write.Commit();
        }
        access.Apply(settings);
        return TypedResults.Ok(settings);
    }
}
