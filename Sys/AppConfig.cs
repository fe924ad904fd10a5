using System.Text;
using MailPanel.Core;

namespace MailPanel.Sys;

/// <summary>The daemon's config.env, parsed and validated once at start-up (runtime-contract.md).</summary>
internal sealed record AppConfig
{
    public const string DefaultPath = "/etc/backendside-mailpanel/config.env";

    public string Listen { get; init; } = "0.0.0.0:8080";
    public required string ApiKey { get; init; }
    public string AdminUser { get; init; } = "admin";
    public required string AdminPasswordHash { get; init; }
    public required string JwtSecret { get; init; }
    public string DataDir { get; init; } = "/var/lib/backendside-mailpanel";
    public string VmailDir { get; init; } = "/var/vmail";
    public string SysRoot { get; init; } = "/";
    public int RateLimitLoginPerMin { get; init; } = 5;
    public int RateLimitApiPerMin { get; init; } = 60;
    public IReadOnlyList<string> AdminLoginWhitelist { get; init; } = [];
    public IReadOnlyList<string> ApiKeyWhitelist { get; init; } = [];

    /// <summary>Postfix myhostname / Dovecot hostname; defaults to the machine's host name.</summary>
    public string MailHostname { get; init; } = "localhost";
    /// <summary>address:port of the Postfix listeners and the Dovecot login listeners.</summary>
    public string SmtpListen { get; init; } = "0.0.0.0:25";
    public string SubmissionListen { get; init; } = "0.0.0.0:587";
    public string ImapListen { get; init; } = "0.0.0.0:143";
    public string Pop3Listen { get; init; } = "0.0.0.0:110";
    /// <summary>Dovecot's implicit-TLS listeners, open once a certificate is registered.</summary>
    public string ImapsListen { get; init; } = "0.0.0.0:993";
    public string Pop3sListen { get; init; } = "0.0.0.0:995";
    /// <summary>The server's public addresses for the DNS hints (empty: the host's own non-loopback addresses).</summary>
    public IReadOnlyList<string> PublicIp { get; init; } = [];
    /// <summary>The certbot program POST /tls/issue and /tls/renew run (a name on the fixed PATH, or an absolute path).</summary>
    public string Certbot { get; init; } = "certbot";

    public string DatabasePath => Path.Combine(DataDir, "mailpanel.db");

    /// <summary>A path on the managed host: every system path goes through SYSROOT so tests can sandbox it.</summary>
    public string HostPath(string absolute) => Path.Combine(SysRoot, absolute.TrimStart('/'));

    static readonly string[] Keys =
    [
        "LISTEN", "API_KEY", "ADMIN_USER", "ADMIN_PASSWORD_HASH", "JWT_SECRET", "DATA_DIR", "VMAIL_DIR",
        "SYSROOT", "RATE_LIMIT_LOGIN_PER_MIN", "RATE_LIMIT_API_PER_MIN", "ADMIN_LOGIN_WHITELIST", "API_KEY_WHITELIST",
        "MAIL_HOSTNAME", "SMTP_LISTEN", "SUBMISSION_LISTEN", "IMAP_LISTEN", "POP3_LISTEN",
        "IMAPS_LISTEN", "POP3S_LISTEN", "CERTBOT", "PUBLIC_IP",
    ];

    /// <summary>Parses config.env text. Any problem is a <see cref="ConfigException"/> with one clear line.</summary>
    public static AppConfig Parse(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ConfigException($"line {lineNo}: expected KEY=VALUE");
            var key = line[..eq].Trim();
            var value = Unquote(line[(eq + 1)..].Trim());
            if (!Keys.Contains(key)) throw new ConfigException($"line {lineNo}: unknown key {key}");
            if (!values.TryAdd(key, value)) throw new ConfigException($"line {lineNo}: {key} is set twice");
        }

        string Required(string key) =>
            values.TryGetValue(key, out var v) && v.Length > 0 ? v : throw new ConfigException($"{key} is required");
        string Optional(string key, string fallback) =>
            values.TryGetValue(key, out var v) && v.Length > 0 ? v : fallback;
        int PositiveInt(string key, int fallback)
        {
            var v = Optional(key, "");
            if (v.Length == 0) return fallback;
            return int.TryParse(v, out var n) && n > 0 ? n : throw new ConfigException($"{key} must be a positive integer");
        }
        IReadOnlyList<string> Cidrs(string key)
        {
            var list = Optional(key, "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var item in list)
                if (!IpRules.TryParseRule(item, out _)) throw new ConfigException($"{key}: '{item}' is not an IP or CIDR");
            return list;
        }

        IReadOnlyList<string> Addresses(string key)
        {
            var list = Optional(key, "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var item in list)
                if (!Validate.IsIpLiteral(item)) throw new ConfigException($"{key}: '{item}' is not an IPv4 or IPv6 address");
            return [.. list.Select(a => System.Net.IPAddress.Parse(a).ToString())];
        }

        var config = new AppConfig
        {
            Listen = Optional("LISTEN", "0.0.0.0:8080"),
            ApiKey = Required("API_KEY"),
            AdminUser = Optional("ADMIN_USER", "admin"),
            AdminPasswordHash = Required("ADMIN_PASSWORD_HASH"),
            JwtSecret = Required("JWT_SECRET"),
            DataDir = Optional("DATA_DIR", "/var/lib/backendside-mailpanel"),
            VmailDir = Optional("VMAIL_DIR", "/var/vmail"),
            SysRoot = Optional("SYSROOT", "/"),
            RateLimitLoginPerMin = PositiveInt("RATE_LIMIT_LOGIN_PER_MIN", 5),
            RateLimitApiPerMin = PositiveInt("RATE_LIMIT_API_PER_MIN", 60),
            AdminLoginWhitelist = Cidrs("ADMIN_LOGIN_WHITELIST"),
            ApiKeyWhitelist = Cidrs("API_KEY_WHITELIST"),
            MailHostname = Optional("MAIL_HOSTNAME", "").ToLowerInvariant() is { Length: > 0 } h ? h : DefaultMailHostname(),
            SmtpListen = Optional("SMTP_LISTEN", "0.0.0.0:25"),
            SubmissionListen = Optional("SUBMISSION_LISTEN", "0.0.0.0:587"),
            ImapListen = Optional("IMAP_LISTEN", "0.0.0.0:143"),
            Pop3Listen = Optional("POP3_LISTEN", "0.0.0.0:110"),
            ImapsListen = Optional("IMAPS_LISTEN", "0.0.0.0:993"),
            Pop3sListen = Optional("POP3S_LISTEN", "0.0.0.0:995"),
            Certbot = Optional("CERTBOT", "certbot"),
            PublicIp = Addresses("PUBLIC_IP"),
        };
        if (Encoding.UTF8.GetByteCount(config.JwtSecret) < 32) throw new ConfigException("JWT_SECRET must be at least 32 bytes");
        if (!Passwords.IsStoredHash(config.AdminPasswordHash))
            throw new ConfigException("ADMIN_PASSWORD_HASH must be a {BLF-CRYPT} bcrypt hash (mailpanel hash-password)");
        if (!Validate.TryParseListen(config.Listen, out _)) throw new ConfigException($"LISTEN '{config.Listen}' is not address:port");
        if (!Validate.IsHostName(config.MailHostname))
            throw new ConfigException($"MAIL_HOSTNAME '{config.MailHostname}' is not a host name");
        foreach (var (key, listen) in new[] { ("SMTP_LISTEN", config.SmtpListen), ("SUBMISSION_LISTEN", config.SubmissionListen),
            ("IMAP_LISTEN", config.ImapListen), ("POP3_LISTEN", config.Pop3Listen),
            ("IMAPS_LISTEN", config.ImapsListen), ("POP3S_LISTEN", config.Pop3sListen) })
            if (!Validate.TryParseListen(listen, out var ep) || ep.Port == 0)
                throw new ConfigException($"{key} '{listen}' is not address:port (port 1-65535)");
        foreach (var (key, path) in new[] { ("DATA_DIR", config.DataDir), ("VMAIL_DIR", config.VmailDir), ("SYSROOT", config.SysRoot) })
            if (!Path.IsPathRooted(path)) throw new ConfigException($"{key} must be an absolute path");
        return config;
    }

    public static AppConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read {path}: {e.Message}");
        }
        return Parse(text);
    }

    /// <summary>The machine's host name, lower-cased; "localhost" when it is not a usable DNS name.</summary>
    static string DefaultMailHostname()
    {
        var name = HostInfo.HostName().ToLowerInvariant();
        return Validate.IsHostName(name) ? name : "localhost";
    }

    static string Unquote(string v) =>
        v.Length >= 2 && (v[0] == '"' || v[0] == '\'') && v[^1] == v[0] ? v[1..^1] : v;
}

internal sealed class ConfigException(string message) : Exception(message);
