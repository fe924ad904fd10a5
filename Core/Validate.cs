using System.Net;
using System.Net.Sockets;

namespace MailPanel.Core;

/// <summary>
/// Field validators shared by every resource. Each returns null when the value is fine, else the
/// human message for the 400 body. Names are normalised to lower case by the callers.
/// </summary>
internal static class Validate
{
    /// <summary>A fully qualified DNS name: 2+ labels of [a-z0-9-], 1-63 chars, no edge hyphens, 253 max, alphabetic TLD or xn--.</summary>
    public static bool IsDomainName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 253) return false;
        var labels = name.Split('.');
        if (labels.Length < 2) return false;
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-') return false;
            foreach (var c in label)
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-')) return false;
        }
        var tld = labels[^1];
        return tld.StartsWith("xn--", StringComparison.OrdinalIgnoreCase) || tld.All(char.IsAsciiLetter);
    }

    /// <summary>
    /// RFC 5321 dot-atom local part (the quoted-string form is refused: it cannot be a maildir name and
    /// Postfix maps would need escaping). 64 octets max.
    /// </summary>
    public static bool IsLocalPart(string? local)
    {
        if (string.IsNullOrEmpty(local) || local.Length > 64) return false;
        if (local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal)) return false;
        foreach (var c in local)
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~.".Contains(c, StringComparison.Ordinal))) return false;
        return true;
    }

    /// <summary>
    /// A mailbox username as POST /mailboxes takes it: "alice" or "alice@&lt;domain&gt;" where the suffix is
    /// the domain of domain_id. Returns the error, or null and the lower-cased local part. The local
    /// part names a directory under VMAIL_DIR, so '/', '\', NUL and ".." are refused by name.
    /// </summary>
    public static string? MailboxUsername(string? username, long domainId, string domainName, out string local)
    {
        local = "";
        if (string.IsNullOrEmpty(username)) return "username is required";
        var value = username;
        var at = value.LastIndexOf('@');
        if (at >= 0)
        {
            var suffix = value[(at + 1)..].ToLowerInvariant();
            if (suffix != domainName) return $"username domain \"{value[(at + 1)..]}\" does not match domain_id ({domainId}: {domainName})";
            value = value[..at];
        }
        if (value.Length == 0) return "username must not be empty";
        if (value.Contains('@', StringComparison.Ordinal)) return "username must not contain @";
        if (value.IndexOfAny(['/', '\\', '\0']) >= 0) return "username must not contain /, \\ or NUL bytes";
        if (value.Contains("..", StringComparison.Ordinal)) return "username must not contain ..";
        if (!IsLocalPart(value)) return $"'{value}' is not a valid local part (RFC 5321 dot-atom, at most 64 characters)";
        local = value.ToLowerInvariant();
        return null;
    }

    /// <summary>local@domain per RFC 5321 (dot-atom local part, DNS domain or [IP] literal), 254 max.</summary>
    public static bool IsEmailAddress(string? address)
    {
        if (string.IsNullOrEmpty(address) || address.Length > 254) return false;
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1) return false;
        var domain = address[(at + 1)..];
        if (!IsLocalPart(address[..at])) return false;
        if (domain.StartsWith('[') && domain.EndsWith(']'))
        {
            var literal = domain[1..^1];
            if (literal.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
                return IPAddress.TryParse(literal[5..], out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6;
            return IsIPv4Literal(literal);
        }
        return IsDomainName(domain);
    }

    /// <summary>
    /// A comma-separated address list, normalised to "a@x, b@y" (trimmed, lower-cased domains, no
    /// duplicates). Returns null and an error message when any member is not an RFC 5321 address.
    /// </summary>
    public static string? AddressList(string? value, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(value)) { error = "destination is required"; return null; }
        var seen = new List<string>();
        foreach (var part in value.Split(','))
        {
            var address = part.Trim();
            if (!IsEmailAddress(address)) { error = $"'{address}' is not a valid RFC 5321 address"; return null; }
            var at = address.LastIndexOf('@');
            address = address[..at] + "@" + address[(at + 1)..].ToLowerInvariant();
            if (!seen.Contains(address, StringComparer.OrdinalIgnoreCase)) seen.Add(address);
        }
        if (seen.Count > 100) { error = "at most 100 destinations"; return null; }
        return string.Join(", ", seen);
    }

    public static bool IsIPv4Literal(string text) =>
        text.Split('.') is { Length: 4 } parts && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit) && int.Parse(p) <= 255 && (p.Length == 1 || p[0] != '0'));

    /// <summary>A host name: a DNS name (<see cref="IsDomainName"/>) or one bare label such as "spamd" (not all digits).</summary>
    public static bool IsHostName(string? name)
    {
        if (IsDomainName(name)) return true;
        if (string.IsNullOrEmpty(name) || name.Length > 63 || name[0] == '-' || name[^1] == '-') return false;
        return name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && !name.All(char.IsAsciiDigit);
    }

    /// <summary>Free text that may span lines: no control characters other than tab, CR and LF.</summary>
    public static bool IsPlainText(string text) =>
        text.All(c => !char.IsControl(c) || c is '\t' or '\r' or '\n');

    /// <summary>A plain unicast IPv4 or IPv6 literal, as used for outgoing_ip.</summary>
    public static bool IsIpLiteral(string? text)
    {
        if (string.IsNullOrEmpty(text)) return false;
        if (IsIPv4Literal(text)) return true;
        return text.Contains(':', StringComparison.Ordinal) && !text.Contains('%', StringComparison.Ordinal)
            && IPAddress.TryParse(text, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6;
    }

    /// <summary>Postfix mynetworks syntax: space-separated "a.b.c.d/n" or "[v6]/n" entries (bare addresses allowed).</summary>
    public static string? NetworkList(string field, string? value, bool allowEmpty)
    {
        if (value is null) return $"{field} is required";
        var items = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0 && !allowEmpty) return $"{field} must list at least one network";
        foreach (var item in items)
        {
            var v6 = item.Contains(':', StringComparison.Ordinal);
            if (v6 && !item.StartsWith('[')) return $"{field}: IPv6 network '{item}' must be written [addr]/len";
            if (!IpRules.TryParseRule(item, out _)) return $"{field}: '{item}' is not a valid CIDR";
        }
        return null;
    }

    /// <summary>A space-separated list of DNS names (DNSBL zones).</summary>
    public static string? DomainList(string field, string? value)
    {
        if (value is null) return $"{field} is required";
        foreach (var item in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (!IsDomainName(item)) return $"{field}: '{item}' is not a valid DNS name";
        return null;
    }

    /// <summary>DKIM selector: alphanumerics plus - and _, 1-63 chars.</summary>
    public static bool IsSelector(string? selector) =>
        !string.IsNullOrEmpty(selector) && selector.Length <= 63 && selector.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string? OneOf(string field, string? value, params string[] allowed) =>
        value is not null && allowed.Contains(value, StringComparer.Ordinal)
            ? null
            : $"{field} must be one of {string.Join(", ", allowed)}";

    /// <summary>Upper bound for byte sizes: 1 PiB. Anything above is a typo, not a quota.</summary>
    public const long MaxBytes = 1L << 50;

    /// <summary>Upper bound for counts and rates.</summary>
    public const long MaxCount = 10_000_000;

    public static string? Range(string field, long? value, long min, long max) =>
        value is null || (value >= min && value <= max) ? null : $"{field} must be between {min} and {max}";

    public static string? Range(string field, double? value, double min, double max) =>
        value is null || (double.IsFinite(value.Value) && value >= min && value <= max) ? null : $"{field} must be between {min} and {max}";

    /// <summary>address:port; port 0 asks the kernel for a free port (tests use it).</summary>
    public static bool TryParseListen(string listen, out System.Net.IPEndPoint endpoint) =>
        System.Net.IPEndPoint.TryParse(listen, out endpoint!) && listen.Contains(':', StringComparison.Ordinal);
}
