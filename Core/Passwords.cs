using System.Text;

namespace MailPanel.Core;

/// <summary>
/// Password hashes as Dovecot reads them: "{BLF-CRYPT}" + bcrypt. BCrypt.Net-Next writes "$2b$"
/// when asked (its default "$2a$" and its SHA-384 "enhanced" mode are not what Dovecot expects).
/// </summary>
internal static class Passwords
{
    public const string Scheme = "{BLF-CRYPT}";

    /// <summary>Cost 10: ~60 ms a hash on this class of VPS core (README has the measured figure).</summary>
    public const int Cost = 10;

    /// <summary>bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused.</summary>
    public const int MaxBytes = 72;

    public static string? Validate(string? password)
    {
        if (string.IsNullOrEmpty(password)) return "password is required";
        if (password.Contains('\0', StringComparison.Ordinal)) return "password must not contain NUL bytes";
        if (Encoding.UTF8.GetByteCount(password) > MaxBytes) return $"password must be at most {MaxBytes} bytes (bcrypt limit)";
        return null;
    }

    public static string Hash(string password) =>
        Scheme + BCrypt.Net.BCrypt.HashPassword(password, BCrypt.Net.BCrypt.GenerateSalt(Cost, 'b'));

    public static bool Verify(string password, string stored)
    {
        if (!IsStoredHash(stored)) return false;
        try { return BCrypt.Net.BCrypt.Verify(password, stored[Scheme.Length..]); }
        catch (BCrypt.Net.SaltParseException) { return false; }
    }

    /// <summary>A "{BLF-CRYPT}$2y$NN$..." / "$2b$" / "$2a$" hash of the standard 60-character form.</summary>
    public static bool IsStoredHash(string? stored)
    {
        if (stored is null || !stored.StartsWith(Scheme, StringComparison.Ordinal)) return false;
        var h = stored.AsSpan(Scheme.Length);
        if (h.Length != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
        if (h[2] is not ('a' or 'b' or 'y')) return false;
        if (!char.IsAsciiDigit(h[4]) || !char.IsAsciiDigit(h[5])) return false;
        foreach (var c in h[7..])
            if (!(char.IsAsciiLetterOrDigit(c) || c == '.' || c == '/')) return false;
        return true;
    }
}
