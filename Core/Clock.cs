using System.Globalization;

namespace MailPanel.Core;

/// <summary>Timestamps are stored and returned as RFC 3339 UTC strings with a Z, second precision.</summary>
internal static class Clock
{
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public static string Now() => Rfc3339(DateTime.UtcNow);

    public static string Rfc3339(DateTime utc) => utc.ToString(Format, CultureInfo.InvariantCulture);

    public static string FromUnix(long seconds) => Rfc3339(DateTime.UnixEpoch.AddSeconds(seconds));

    public static bool IsRfc3339(string? value) =>
        value is not null && DateTime.TryParseExact(value, Format, CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out _);
}
