using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using MailPanel.Core;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Api;

/// <summary>
/// Who may call what: the live security settings (with parsed whitelists) and the API keys (managed
/// tokens first, then the static key). Secrets are compared as SHA-256 digests in constant time.
/// </summary>
internal sealed class Access
{
    sealed record Live(SecuritySettings Settings, IpRules AdminLogin, IpRules ApiKey);

    readonly Db db;
    readonly TimeProvider time;
    readonly byte[] staticKeyHash;
    volatile Live live;
    volatile Dictionary<long, byte[]> tokens;
    readonly ConcurrentDictionary<long, long> lastTouched = new();

    public Access(Db db, AppConfig config, TimeProvider time)
    {
        this.db = db;
        this.time = time;
        staticKeyHash = Digest(config.ApiKey);
        var settings = SecurityStore.Load(db) ?? new SecuritySettings(
            config.RateLimitLoginPerMin, config.RateLimitApiPerMin, config.AdminLoginWhitelist, config.ApiKeyWhitelist);
        live = Compile(settings);
        tokens = TokenStore.Hashes(db);
    }

    public SecuritySettings Settings => live.Settings;
    public IpRules AdminLoginWhitelist => live.AdminLogin;
    public IpRules ApiKeyWhitelist => live.ApiKey;

    public void Apply(SecuritySettings settings) => live = Compile(settings);

    static Live Compile(SecuritySettings s) => new(s, new IpRules(s.AdminLoginWhitelist), new IpRules(s.ApiKeyWhitelist));

    /// <summary>Re-reads the token hashes after a create, rotate or revoke, so the change is effective at once.</summary>
    public void ReloadTokens() => tokens = TokenStore.Hashes(db);

    public const string TokenPrefix = "mpt_";

    /// <summary>A new managed secret: "mpt_&lt;id&gt;_&lt;40 letters/digits&gt;"; the id lets the check find its one hash.</summary>
    public static string NewSecret(long id) => $"{TokenPrefix}{id}_{RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 40)}";

    public static byte[] Digest(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>True when <paramref name="presented"/> is a live managed token or the static API_KEY.</summary>
    public async ValueTask<bool> CheckApiKey(string presented)
    {
        var digest = Digest(presented);
        if (presented.StartsWith(TokenPrefix, StringComparison.Ordinal))
        {
            var rest = presented.AsSpan(TokenPrefix.Length);
            var underscore = rest.IndexOf('_');
            if (underscore > 0 && long.TryParse(rest[..underscore], out var id)
                && tokens.TryGetValue(id, out var stored) && CryptographicOperations.FixedTimeEquals(digest, stored))
            {
                await MarkUsed(id);
                return true;
            }
        }
        return CryptographicOperations.FixedTimeEquals(digest, staticKeyHash);
    }

    /// <summary>Records last_used_at: written at most once a minute per token, so the hot path stays read-only.</summary>
    async ValueTask MarkUsed(long id)
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var previous = lastTouched.GetOrAdd(id, 0);
        if (now - previous < 60 || !lastTouched.TryUpdate(id, now, previous)) return;
        await TokenStore.Touch(db, id, Clock.FromUnix(now));
    }
}
