using System.Net;
using MailPanel.Core;

namespace MailPanel.Api;

/// <summary>
/// Deny by default: every request passes here before routing. Only /health, /auth/login and
/// /auth/verify are open; everything else needs X-API-Key (which wins when both are sent) or a
/// Bearer JWT. Order: rate limit (per source IP, before any secret is checked, so keys cannot be
/// brute-forced), then whitelist, then credentials.
/// </summary>
internal static class Gate
{
    public static IApplicationBuilder UseGate(this IApplicationBuilder app) => app.Use(static (context, next) => Check(context, next));

    static async Task Check(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path.Value ?? "/";
        if (path.Equals("/health", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }
        var services = context.RequestServices;
        var access = services.GetRequiredService<Access>();
        var limiter = services.GetRequiredService<RateLimiter>();
        var source = IpRules.Normalize(context.Connection.RemoteIpAddress ?? IPAddress.None);

        if (path.Equals("/auth/login", StringComparison.Ordinal))
        {
            if (!access.AdminLoginWhitelist.Allows(source))
            {
                await Restricted(context, "admin login is not allowed from this address");
                return;
            }
            if (!limiter.TryAcquire(source, access.Settings.RateLimitLoginPerMin, RateBucket.Login))
            {
                await Limited(context);
                return;
            }
            await next(context);
            return;
        }

        if (!limiter.TryAcquire(source, access.Settings.RateLimitApiPerMin, RateBucket.Api))
        {
            await Limited(context);
            return;
        }
        if (path.Equals("/auth/verify", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        var apiKey = context.Request.Headers["X-API-Key"];
        if (apiKey.Count > 0)
        {
            if (!access.ApiKeyWhitelist.Allows(source))
            {
                await Restricted(context, "X-API-Key calls are not allowed from this address");
                return;
            }
            if (apiKey.Count != 1 || string.IsNullOrEmpty(apiKey[0]) || !await access.CheckApiKey(apiKey[0]!))
            {
                await Errors.Write(context, 401, "UNAUTHORIZED", "unauthorized", "the X-API-Key is not valid");
                return;
            }
            await next(context);
            return;
        }

        var authorization = context.Request.Headers.Authorization;
        if (authorization.Count == 1 && authorization[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            if (services.GetRequiredService<Jwt>().Validate(value[7..].Trim()) is null)
            {
                await Errors.Write(context, 401, "UNAUTHORIZED", "unauthorized", "the bearer token is invalid or expired");
                return;
            }
            await next(context);
            return;
        }
        await Errors.Write(context, 401, "UNAUTHORIZED", "unauthorized", "send X-API-Key or Authorization: Bearer <jwt>");
    }

    static Task Restricted(HttpContext context, string detail) =>
        Errors.Write(context, 403, "IP_RESTRICTED", "source IP not allowed", detail);

    static Task Limited(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "60";
        return Errors.Write(context, 429, "RATE_LIMITED", "rate limit exceeded", "too many requests from this address; retry after 60 seconds");
    }
}
