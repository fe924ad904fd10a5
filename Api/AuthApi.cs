using System.Security.Cryptography;
using System.Text;
using MailPanel.Core;
using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record LoginRequest(string? Username, string? Password);

internal sealed record LoginResponse(string Token, string ExpiresAt);

internal sealed record VerifyResponse(bool Valid, string Username, string ExpiresAt);

/// <summary>POST /auth/login (admin credentials -> 24 h JWT) and GET /auth/verify (runtime-contract.md).</summary>
internal static class AuthApi
{
    public static void MapAuth(this IEndpointRouteBuilder app)
    {
        app.MapPost("/auth/login", Login);
        app.MapGet("/auth/verify", Verify);
    }

    static async Task<Results<Ok<LoginResponse>, JsonHttpResult<ApiError>>> Login(HttpRequest request, AppConfig config, Jwt jwt)
    {
        var body = await Body.Read(request, AppJson.Api.LoginRequest);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (string.IsNullOrEmpty(input.Username) || string.IsNullOrEmpty(input.Password))
            return Errors.Validation("username and password are required");
        // The bcrypt check runs even for a wrong user name, so timing does not tell which part was wrong.
        var userOk = CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(input.Username), Encoding.UTF8.GetBytes(config.AdminUser));
        var passwordOk = Passwords.Validate(input.Password) is null && Passwords.Verify(input.Password, config.AdminPasswordHash);
        if (!(userOk && passwordOk)) return Errors.Unauthorized("invalid username or password");
        var (token, expires) = jwt.Issue(config.AdminUser);
        return TypedResults.Ok(new LoginResponse(token, Clock.Rfc3339(expires.UtcDateTime)));
    }

    static Results<Ok<VerifyResponse>, JsonHttpResult<ApiError>> Verify(HttpRequest request, Jwt jwt)
    {
        var header = request.Headers.Authorization;
        if (header.Count != 1 || header[0] is not { } value || !value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return Errors.Unauthorized("send Authorization: Bearer <jwt>");
        if (jwt.Validate(value[7..].Trim()) is not { } claims) return Errors.Unauthorized("the token is malformed, tampered with or expired");
        return TypedResults.Ok(new VerifyResponse(true, claims.Sub, Clock.FromUnix(claims.Exp)));
    }
}
