using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace MailPanel.Api;

internal sealed record JwtHeader(string Alg, string Typ);

internal sealed record JwtClaims(string Sub, long Iat, long Exp);

/// <summary>
/// HS256 JSON Web Tokens for the admin session (24 h). Only alg=HS256 is accepted: "none", RS256
/// and anything else are refused before the signature is looked at.
/// </summary>
internal sealed class Jwt(byte[] secret, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    public (string Token, DateTimeOffset ExpiresAt) Issue(string username)
    {
        var now = time.GetUtcNow();
        var expires = now + Lifetime;
        var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new JwtHeader("HS256", "JWT"), AppJson.Api.JwtHeader));
        var claims = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(
            new JwtClaims(username, now.ToUnixTimeSeconds(), expires.ToUnixTimeSeconds()), AppJson.Api.JwtClaims));
        var signingInput = header + "." + claims;
        return (signingInput + "." + Base64Url.EncodeToString(Sign(signingInput)), DateTimeOffset.FromUnixTimeSeconds(expires.ToUnixTimeSeconds()));
    }

    /// <summary>The claims of a well-formed, correctly signed, unexpired HS256 token; null otherwise.</summary>
    public JwtClaims? Validate(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || parts[2].Length == 0) return null;
        try
        {
            var header = JsonSerializer.Deserialize(Base64Url.DecodeFromChars(parts[0]), AppJson.Api.JwtHeader);
            if (header is null || !string.Equals(header.Alg, "HS256", StringComparison.Ordinal)) return null;
            var expected = Sign(parts[0] + "." + parts[1]);
            if (!CryptographicOperations.FixedTimeEquals(expected, Base64Url.DecodeFromChars(parts[2]))) return null;
            var claims = JsonSerializer.Deserialize(Base64Url.DecodeFromChars(parts[1]), AppJson.Api.JwtClaims);
            if (claims is null || string.IsNullOrEmpty(claims.Sub)) return null;
            return claims.Exp > time.GetUtcNow().ToUnixTimeSeconds() ? claims : null;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }

    byte[] Sign(string signingInput) => HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(signingInput));
}
