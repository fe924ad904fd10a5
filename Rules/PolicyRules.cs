using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using MailPanel.Core;
using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>
/// What the policy service (Postfix's policy delegation, SMTPD_POLICY_README) answers, from the
/// effective config in the store. Submission (a SASL user): enabled_smtp, max_recipients_per_message,
/// max_send_per_day (messages per UTC day, counted at end of data and kept in SQLite, so a restart
/// does not reset it) and the sender's message_size_limit. Inbound on port 25: the recipient's
/// message_size_limit and greylisting (global greylist_enabled and the domain's effective
/// greylisting_enabled; clients in relay_networks and the anti-spam whitelist bypass it). Anything else: DUNNO, the next
/// restriction decides. 0 in a count field means no limit.
/// <para>
/// Speed (bench/policy.sh): the config the answers read (effective mailbox and domain values, the
/// anti-spam settings, the parsed whitelist) is cached and dropped whenever a data or config write
/// commits (<see cref="Db.Generation"/>), so a change applies from the next request on, before any
/// reconcile. The policy tables have one writer, this service, so what it read or wrote there is
/// kept in step in memory: a SASL user's count today (read from SQLite on first use, then counted
/// with each write) and the triplets that passed greylisting (written back at most once an hour for
/// pruning; forgotten at each prune). So the only store work left on the hot path is the count's
/// write at end of data (a runtime write: <see cref="Db.BeginRuntimeWrite"/>).
/// </para>
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

    /// <summary>How stale a passed triplet's last_seen may get before it is written again (pruning counts days).</summary>
    const long LastSeenResolution = 3600;

    /// <summary>Entries kept per cache before it starts afresh (a bound on memory; misses are two small queries).</summary>
    const int MaxCached = 20_000;

    /// <summary>The store's config as of one <see cref="Db.Generation"/>; entries are filled on first use.</summary>
    sealed class Cached(long generation, AntispamConfig antispam, Whitelist whitelist, string relayNetworks)
    {
        public long Generation => generation;
        /// <summary>Our own hosts (a webmail, Sieve vacation replies submitted from the host itself): never greylisted, they do not retry like an MTA and are trusted to relay anyway.</summary>
        public string RelayNetworks => relayNetworks;
        public AntispamConfig Antispam => antispam;
        public Whitelist Whitelist => whitelist;
        public ConcurrentDictionary<string, MailboxEffective?> Mailboxes { get; } = new(StringComparer.Ordinal);
        public ConcurrentDictionary<string, bool> Greylisting { get; } = new(StringComparer.Ordinal);
    }

    Cached? cached;

    readonly SendCounter counter = new(db);

    /// <summary>
    /// Group commit of the end-of-data counts: a message waits for the transaction that stores its
    /// count (so DUNNO means counted), and the counts that arrive while one commits share the next.
    /// </summary>
    sealed class SendCounter(Db db)
    {
        readonly Channel<(string Username, string Day, string Yesterday, TaskCompletionSource Done)> queue =
            Channel.CreateUnbounded<(string, string, string, TaskCompletionSource)>(new() { SingleReader = true });
        int running;

        public Task Count(string username, string day, string yesterday)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            queue.Writer.TryWrite((username, day, yesterday, done));
            if (Interlocked.CompareExchange(ref running, 1, 0) == 0) _ = Task.Run(Drain);
            return done.Task;
        }

        async Task Drain()
        {
            var batch = new List<(string Username, string Day, string Yesterday, TaskCompletionSource Done)>();
            while (true)
            {
                while (batch.Count < 256 && queue.Reader.TryRead(out var item)) batch.Add(item);
                if (batch.Count == 0)
                {
                    Volatile.Write(ref running, 0);
                    // A count queued after the last TryRead but before running went 0 found it still 1: take it on.
                    if (!queue.Reader.TryPeek(out _) || Interlocked.CompareExchange(ref running, 1, 0) != 0) return;
                    continue;
                }
                try
                {
                    await PolicyStore.CountMessages(db, [.. batch.Select(b => (b.Username, b.Day, b.Yesterday))]);
                    foreach (var b in batch) b.Done.TrySetResult();
                }
                catch (Exception e)
                {
                    foreach (var b in batch) b.Done.TrySetException(e);
                }
                batch.Clear();
            }
        }
    }

    /// <summary>Messages sent today per SASL user ("day\nuser"), loaded from policy_send_counts on first use.</summary>
    readonly ConcurrentDictionary<string, StrongBox<long>> sent = new(StringComparer.Ordinal);
    string sentDay = "";

    /// <summary>Triplets known to have passed, with the last_seen stored for them.</summary>
    readonly ConcurrentDictionary<string, long> passed = new(StringComparer.Ordinal);

    StrongBox<long> Sent(string sasl, string today)
    {
        if (string.CompareOrdinal(today, Volatile.Read(ref sentDay)) > 0)
        {
            lock (sent)
            {
                if (string.CompareOrdinal(today, sentDay) > 0)
                {
                    sent.Clear(); // yesterday's counts
                    Volatile.Write(ref sentDay, today);
                }
            }
        }
        return sent.GetOrAdd(today + "\n" + sasl, static (_, a) => new StrongBox<long>(PolicyStore.SentToday(a.db, a.sasl, a.today)), (db, sasl, today));
    }

    Cached Config()
    {
        var c = Volatile.Read(ref cached);
        var generation = db.Generation; // read before the rows: a commit after this makes the next request reload
        if (c is not null && c.Generation == generation) return c;
        c = new Cached(generation, ConfigStore.Antispam(db), new Whitelist(WhitelistStore.All(db)), ConfigStore.Global.Read(db).RelayNetworks);
        Volatile.Write(ref cached, c);
        return c;
    }

    static TValue Remember<TValue>(ConcurrentDictionary<string, TValue> cache, string key, Func<string, TValue> load)
    {
        if (cache.TryGetValue(key, out var value)) return value;
        if (cache.Count >= MaxCached) cache.Clear();
        return cache.GetOrAdd(key, load);
    }

    /// <summary>antispam_whitelist, parsed once per config generation.</summary>
    sealed class Whitelist
    {
        readonly List<IPNetwork> networks = [];
        readonly HashSet<string> domains = new(StringComparer.Ordinal), emails = new(StringComparer.Ordinal);

        public Whitelist(List<WhitelistEntry> entries)
        {
            foreach (var e in entries)
            {
                switch (e.EntryType)
                {
                    case "ip" or "cidr" when IpRules.TryParseRule(e.Value, out var net): networks.Add(net); break;
                    case "domain": domains.Add(e.Value.ToLowerInvariant()); break;
                    case "email": emails.Add(e.Value.ToLowerInvariant()); break;
                }
            }
        }

        /// <summary>The client is in a listed network, or the (lower-case) sender is listed, or its domain or a parent of it.</summary>
        public bool Contains(string client, string sender)
        {
            if (networks.Count > 0 && IPAddress.TryParse(client, out var ip))
            {
                ip = IpRules.Normalize(ip);
                foreach (var net in networks)
                    if (net.Contains(ip)) return true;
            }
            if (sender.Length == 0) return false;
            if (emails.Contains(sender)) return true;
            if (Split(sender)?.Domain is not { } domain) return false;
            for (var d = domain; ; d = d[(d.IndexOf('.', StringComparison.Ordinal) + 1)..])
            {
                if (domains.Contains(d)) return true;
                if (!d.Contains('.', StringComparison.Ordinal)) return false;
            }
        }
    }

    public async Task<string> Decide(IReadOnlyDictionary<string, string> request, Session? session = null)
    {
        session ??= new Session();
        var instance = request.GetValueOrDefault("instance") ?? "";
        if (instance != session.Instance) (session.Instance, session.Accepted) = (instance, 0);
        var state = request.GetValueOrDefault("protocol_state") ?? "";
        var sasl = (request.GetValueOrDefault("sasl_username") ?? "").ToLowerInvariant();
        var size = long.TryParse(request.GetValueOrDefault("size"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0;
        var config = Config();
        if (sasl.Length > 0)
        {
            var action = await Submission(config, state, sasl, size, session.Accepted);
            if (state == "RCPT" && action == Dunno) session.Accepted++;
            return action;
        }
        if (state == "RCPT") return await Inbound(config, request, size);
        return Dunno;
    }

    static (string Local, string Domain)? Split(string? address)
    {
        if (string.IsNullOrEmpty(address)) return null;
        var at = address.LastIndexOf('@');
        return at <= 0 || at == address.Length - 1 ? null : (address[..at].ToLowerInvariant(), address[(at + 1)..].ToLowerInvariant());
    }

    /// <summary>The effective config of a lower-case address that is a mailbox here, else null.</summary>
    MailboxEffective? Mailbox(Cached config, string address) => Remember(config.Mailboxes, address, a =>
        Split(a) is { } parts && PolicyStore.MailboxId(db, parts.Local, parts.Domain) is { } id ? ConfigStore.EffectiveMailbox(db, id) : null);

    /// <summary>The domain's effective greylisting_enabled (false for a domain not hosted here).</summary>
    bool GreylistingEnabled(Cached config, string domain) => Remember(config.Greylisting, domain, d =>
        DomainStore.GetByName(db, d) is { } row && ConfigStore.EffectiveDomain(db, row.Id) is { GreylistingEnabled: true });

    string Today => time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    async Task<string> Submission(Cached config, string state, string sasl, long size, int accepted)
    {
        if (Mailbox(config, sasl) is not { } m) return Dunno; // not ours (cannot happen: Dovecot authenticated it)
        if (state == "END-OF-MESSAGE")
        {
            if (m.MessageSizeLimit > 0 && size > m.MessageSizeLimit)
                return $"552 5.3.4 Message size {size} exceeds the limit of {m.MessageSizeLimit} bytes for {sasl}";
            var now = time.GetUtcNow().UtcDateTime;
            var today = Today;
            var count = Sent(sasl, today); // loaded before the write, so the write is counted once
            await counter.Count(sasl, today, now.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            Interlocked.Increment(ref count.Value);
            return Dunno;
        }
        if (state != "RCPT") return Dunno;
        if (!m.EnabledSmtp) return $"REJECT 5.7.1 Sending is disabled for {sasl}";
        if (m.MaxRecipientsPerMessage > 0 && accepted >= m.MaxRecipientsPerMessage)
            return $"452 4.5.3 Too many recipients: {sasl} may send to at most {m.MaxRecipientsPerMessage} per message";
        if (m.MaxSendPerDay > 0 && Interlocked.Read(ref Sent(sasl, Today).Value) >= m.MaxSendPerDay)
            return $"550 5.7.1 Daily sending limit reached: {sasl} may send {m.MaxSendPerDay} messages per day (UTC)";
        if (m.MessageSizeLimit > 0 && size > m.MessageSizeLimit)
            return $"552 5.3.4 Message size {size} exceeds the limit of {m.MessageSizeLimit} bytes for {sasl}";
        return Dunno;
    }

    async Task<string> Inbound(Cached config, IReadOnlyDictionary<string, string> request, long size)
    {
        var recipient = (request.GetValueOrDefault("recipient") ?? "").ToLowerInvariant();
        if (Split(recipient) is not { } to) return Dunno;
        if (Mailbox(config, recipient) is { } mailbox && mailbox.MessageSizeLimit > 0 && size > mailbox.MessageSizeLimit)
            return $"552 5.3.4 Message size {size} exceeds the limit of {mailbox.MessageSizeLimit} bytes for {recipient}";
        if (!config.Antispam.GreylistEnabled || !GreylistingEnabled(config, to.Domain)) return Dunno;
        var sender = (request.GetValueOrDefault("sender") ?? "").ToLowerInvariant();
        var client = request.GetValueOrDefault("client_address") ?? "";
        if (IpRules.InList(client, config.RelayNetworks) || config.Whitelist.Contains(client, sender)) return Dunno;
        return await Greylist(Network(client), sender, recipient, config.Antispam);
    }

    /// <summary>The anti-spam whitelist (cached per config generation): a client IP/CIDR, a sender domain (and its subdomains) or a sender address.</summary>
    public bool Whitelisted(string client, string sender) => Config().Whitelist.Contains(client, sender);

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
            passed.Clear(); // before the delete: a pruned triplet must not pass from memory
            await PolicyStore.Prune(db, now - antispam.GreylistMaxAgeDays * 86400);
        }
        var key = $"{client}\n{sender}\n{recipient}";
        if (passed.TryGetValue(key, out var lastSeen) && now - lastSeen < LastSeenResolution) return Dunno;
        var seen = PolicyStore.Triplet(db, client, sender, recipient);
        if (seen is { Passed: true } known && now - known.LastSeen < LastSeenResolution)
        {
            Remember(passed, key, _ => known.LastSeen);
            return Dunno;
        }
        if (seen is { Passed: true } || (seen is { } first && now - first.FirstSeen >= antispam.GreylistDelaySeconds))
        {
            await PolicyStore.Seen(db, client, sender, recipient, now, passed: true);
            if (passed.Count >= MaxCached) passed.Clear();
            passed[key] = now;
            return Dunno;
        }
        if (seen is null) await PolicyStore.Seen(db, client, sender, recipient, now, passed: false);
        var wait = antispam.GreylistDelaySeconds - (seen is { } s ? now - s.FirstSeen : 0);
        return $"DEFER_IF_PERMIT 4.7.1 Greylisted: please try again in {Math.Max(1, wait)} seconds";
    }
}
