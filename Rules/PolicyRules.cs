using System.Globalization;
using System.Net;
using MailPanel.Core;
using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>
/// What the policy service (Postfix's policy delegation, SMTPD_POLICY_README) answers, from the
/// effective config in the store. Submission (a SASL user): enabled_smtp, max_recipients_per_message,
/// max_send_per_day (messages per UTC day, counted at end of data and kept in SQLite, so a restart
/// does not reset it) and the sender's message_size_limit. Inbound on port 25: the recipient's
/// message_size_limit and greylisting (global greylist_enabled and the domain's effective
/// greylisting_enabled; clients in relay_networks and the anti-spam whitelist bypass it). Anything
/// else: DUNNO, the next restriction decides. 0 in a count field means no limit.
/// </summary>
internal sealed class PolicyRules(Db db, TimeProvider time)
{
    /// <summary>
    /// One smtpd's connection: it handles one mail transaction at a time, and Postfix reports
    /// recipient_count only after RCPT, so the recipients accepted so far in the transaction
    /// (<c>instance</c>) are counted here.
    /// </summary>
    public sealed class Session
    {
        public string Instance { get; set; } = "";
        public int Accepted { get; set; }
    }

    public const string Dunno = "DUNNO";
    long nextPrune;

    public async Task<string> Decide(IReadOnlyDictionary<string, string> request, Session? session = null)
    {
        session ??= new Session();
        var instance = request.GetValueOrDefault("instance") ?? "";
        if (instance != session.Instance) (session.Instance, session.Accepted) = (instance, 0);
        var state = request.GetValueOrDefault("protocol_state") ?? "";
        var sasl = (request.GetValueOrDefault("sasl_username") ?? "").ToLowerInvariant();
        var size = long.TryParse(request.GetValueOrDefault("size"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0;
        if (sasl.Length > 0)
        {
            var action = await Submission(state, sasl, size, session.Accepted);
            if (state == "RCPT" && action == Dunno) session.Accepted++;
            return action;
        }
        if (state == "RCPT") return await Inbound(request, size);
        return Dunno;
    }

    static (string Local, string Domain)? Split(string? address)
    {
        if (string.IsNullOrEmpty(address)) return null;
        var at = address.LastIndexOf('@');
        return at <= 0 || at == address.Length - 1 ? null : (address[..at].ToLowerInvariant(), address[(at + 1)..].ToLowerInvariant());
    }

    MailboxEffective? Mailbox(string? address) =>
        Split(address) is { } a && PolicyStore.MailboxId(db, a.Local, a.Domain) is { } id ? ConfigStore.EffectiveMailbox(db, id) : null;

    string Today => time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    async Task<string> Submission(string state, string sasl, long size, int accepted)
    {
        if (Mailbox(sasl) is not { } m) return Dunno; // not ours (cannot happen: Dovecot authenticated it)
        if (state == "END-OF-MESSAGE")
        {
            if (m.MessageSizeLimit > 0 && size > m.MessageSizeLimit)
                return $"552 5.3.4 Message size {size} exceeds the limit of {m.MessageSizeLimit} bytes for {sasl}";
            var now = time.GetUtcNow().UtcDateTime;
            await PolicyStore.CountMessage(db, sasl, Today, now.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            return Dunno;
        }
        if (state != "RCPT") return Dunno;
        if (!m.EnabledSmtp) return $"REJECT 5.7.1 Sending is disabled for {sasl}";
        if (m.MaxRecipientsPerMessage > 0 && accepted >= m.MaxRecipientsPerMessage)
            return $"452 4.5.3 Too many recipients: {sasl} may send to at most {m.MaxRecipientsPerMessage} per message";
        if (m.MaxSendPerDay > 0 && PolicyStore.SentToday(db, sasl, Today) >= m.MaxSendPerDay)
            return $"550 5.7.1 Daily sending limit reached: {sasl} may send {m.MaxSendPerDay} messages per day (UTC)";
        if (m.MessageSizeLimit > 0 && size > m.MessageSizeLimit)
            return $"552 5.3.4 Message size {size} exceeds the limit of {m.MessageSizeLimit} bytes for {sasl}";
        return Dunno;
    }

    async Task<string> Inbound(IReadOnlyDictionary<string, string> request, long size)
    {
        var recipient = (request.GetValueOrDefault("recipient") ?? "").ToLowerInvariant();
        if (Split(recipient) is not { } to) return Dunno;
        if (Mailbox(recipient) is { } mailbox && mailbox.MessageSizeLimit > 0 && size > mailbox.MessageSizeLimit)
            return $"552 5.3.4 Message size {size} exceeds the limit of {mailbox.MessageSizeLimit} bytes for {recipient}";
        var antispam = ConfigStore.Antispam(db);
        if (!antispam.GreylistEnabled) return Dunno;
        if (DomainStore.GetByName(db, to.Domain) is not { } domain || ConfigStore.EffectiveDomain(db, domain.Id) is not { GreylistingEnabled: true }) return Dunno;
        var sender = (request.GetValueOrDefault("sender") ?? "").ToLowerInvariant();
        var client = request.GetValueOrDefault("client_address") ?? "";
        if (InRelayNetworks(client) || Whitelisted(client, sender)) return Dunno;
        return await Greylist(Network(client), sender, recipient, antispam);
    }

    /// <summary>
    /// Our own hosts (relay_networks: a webmail, Sieve vacation replies submitted over SMTP from the
    /// host itself) are never greylisted: they do not retry like an MTA, and they are trusted to relay anyway.
    /// </summary>
    bool InRelayNetworks(string client) => IpRules.InList(client, ConfigStore.Global.Read(db).RelayNetworks);

    /// <summary>The anti-spam whitelist: a client IP/CIDR, a sender domain (and its subdomains) or a sender address.</summary>
    public bool Whitelisted(string client, string sender)
    {
        IPAddress.TryParse(client, out var ip);
        var senderDomain = Split(sender)?.Domain;
        foreach (var e in WhitelistStore.All(db))
        {
            var hit = e.EntryType switch
            {
                "ip" or "cidr" => ip is not null && IpRules.TryParseRule(e.Value, out var net) && net.Contains(IpRules.Normalize(ip)),
                "domain" => senderDomain is not null && (senderDomain == e.Value.ToLowerInvariant() || senderDomain.EndsWith("." + e.Value.ToLowerInvariant(), StringComparison.Ordinal)),
                "email" => sender.Length > 0 && sender == e.Value.ToLowerInvariant(),
                _ => false,
            };
            if (hit) return true;
        }
        return false;
    }

    /// <summary>Greylisting keys a client by its /24 (IPv4) or /64 (IPv6), as postgrey does: a sender's retry may come from a neighbour in its pool.</summary>
    static string Network(string client)
    {
        if (!IPAddress.TryParse(client, out var ip)) return client;
        ip = IpRules.Normalize(ip);
        var bytes = ip.GetAddressBytes();
        var keep = bytes.Length == 4 ? 3 : 8;
        for (var i = keep; i < bytes.Length; i++) bytes[i] = 0;
        return $"{new IPAddress(bytes)}/{keep * 8}";
    }

    async Task<string> Greylist(string client, string sender, string recipient, AntispamConfig antispam)
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        if (now >= Interlocked.Read(ref nextPrune))
        {
            Interlocked.Exchange(ref nextPrune, now + 600);
            await PolicyStore.Prune(db, now - antispam.GreylistMaxAgeDays * 86400);
        }
        var seen = PolicyStore.Triplet(db, client, sender, recipient);
        if (seen is { Passed: true } || (seen is { } first && now - first.FirstSeen >= antispam.GreylistDelaySeconds))
        {
            await PolicyStore.Seen(db, client, sender, recipient, now, passed: true);
            return Dunno;
        }
        if (seen is null) await PolicyStore.Seen(db, client, sender, recipient, now, passed: false);
        var wait = antispam.GreylistDelaySeconds - (seen is { } s ? now - s.FirstSeen : 0);
        return $"DEFER_IF_PERMIT 4.7.1 Greylisted: please try again in {Math.Max(1, wait)} seconds";
    }
}
