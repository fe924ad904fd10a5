using System.Globalization;
using System.Net;
using System.Text;
using MailPanel.Core;

namespace MailPanel.Render;

/// <summary>
/// Renders every mail-stack file from a store snapshot. Pure: no I/O besides reading the embedded
/// templates, inputs sorted ordinally, so the same snapshot always yields the same bytes.
/// Inactive domains (and everything in them) and inactive mailboxes drop out of the maps and
/// the users file: Postfix then rejects them at RCPT time and Dovecot refuses the login.
/// </summary>
internal static class MailRender
{
    public const string MainCf = "main.cf", MasterCf = "master.cf";
    public static readonly string[] Maps = ["vdomains", "vmailbox", "valias", "transport", "sender_transport", RequireTlsMap, DnsblSenderWhitelist];

    /// <summary>
    /// The DNSBL's whitelist tables: clients (relay_networks and the whitelist's ip and cidr entries, a
    /// cidr table: Postfix reads it when a process starts, so it is a config and a change reloads) and
    /// senders (domain and email entries, an lmdb map). Only a header while the DNSBL is off.
    /// </summary>
    public const string DnsblClientWhitelist = "dnsbl_client_whitelist", DnsblSenderWhitelist = "dnsbl_sender_whitelist";

    /// <summary>The restriction class a whitelisted client or sender maps to: the checks after the DNSBL, then permit.</summary>
    const string WhitelistedClass = "mailpanel_whitelisted";

    /// <summary>The mailbox map: exactly the users dict's addresses.</summary>
    public const string MailboxMap = "vmailbox";

    /// <summary>The users dict: one file, so passdb, userdb and deny entries always change together.</summary>
    public const string UsersDict = "users.dict";

    /// <summary>Every file of every unit (tests and the render-only checks).</summary>
    public static List<RenderedFile> All(MailStackSnapshot snap, RenderSettings s) =>
        [.. OpenDkim(snap, s), .. OpenDmarc(snap, s), .. Postfix(snap, s), .. Sieve(snap, s), .. Dovecot(snap, s)];

    /// <summary>
    /// Postfix's files. The domain list and the transports are resolved by trivial-rewrite, which its
    /// clients (qmgr, every smtpd) keep connected for up to ipc_ttl and which only notices a replaced
    /// table when a new client connects: a change there needs the reload, or a new domain would read
    /// "Relay access denied" for minutes. Mailbox and alias maps are looked up by smtpd/cleanup,
    /// which check for a replaced table before each new connection.
    /// </summary>
    public static List<RenderedFile> Postfix(MailStackSnapshot snap, RenderSettings s)
    {
        var activeDomains = snap.Domains.Where(d => d.Active).OrderBy(d => d.DomainName, StringComparer.Ordinal).ToList();
        var ips = OutgoingIps(activeDomains);
        var cert = PickCert(snap.Certs, s.Hostname);
        return
        [
            Text(Path.Combine(s.PostfixDir, MainCf), RenderMainCf(snap.Global, s, cert, ips)),
            Text(Path.Combine(s.PostfixDir, DnsblClientWhitelist), DnsblClients(snap)),
            new(Path.Combine(s.PostfixDir, DnsblSenderWhitelist), FileRole.Table,
                Lines("# check_sender_access: " + (DnsblZones(snap.Global).Count == 0 ? "unused while the DNSBL is off"
                    : "whitelisted sender domains (and their subdomains) and addresses skip the DNSBL zones"), () => DnsblSenders(snap))),
            Text(Path.Combine(s.PostfixDir, MasterCf), RenderMasterCf(snap.Global, s, cert, ips)),
            new(Path.Combine(s.PostfixDir, "vdomains"), FileRole.Table,
                Lines("# virtual_mailbox_domains: active hosted domains", () => activeDomains.Select(d => d.DomainName + " OK"))) { ReloadsDaemon = true },
            // With an LMTP virtual_transport the value is unused, but it must not be empty.
            new(Path.Combine(s.PostfixDir, MailboxMap), FileRole.Table,
                Lines("# virtual_mailbox_maps: active mailboxes of active domains",
                    () => ActiveUsers(snap).Select(u => $"{u.Address.ToLowerInvariant()} {u.Domain}/{u.Username}/"))) { KeyOrder = AddressOrder.Instance, ReadsStore = true },
            new(Path.Combine(s.PostfixDir, "valias"), FileRole.Table,
                Lines("# virtual_alias_maps: aliases of active domains, and mailboxes that forward (forward_to)", () => VirtualAliases(snap))),
            new(Path.Combine(s.PostfixDir, "transport"), FileRole.Table,
                Lines("# transport_maps", () => s.ExtraTransport.Order(StringComparer.Ordinal))) { ReloadsDaemon = true },
            new(Path.Combine(s.PostfixDir, "sender_transport"), FileRole.Table,
                Lines("# sender_dependent_default_transport_maps: sender domain -> transport bound to domains.outgoing_ip",
                    () => activeDomains.Where(d => d.OutgoingIp.Length > 0).Select(d => $"@{d.DomainName} {TransportName(d.OutgoingIp)}"))) { ReloadsDaemon = true },
            new(Path.Combine(s.PostfixDir, RequireTlsMap), FileRole.Table,
                Lines("# check_recipient_access: domains whose effective require_tls_inbound is true",
                    () => activeDomains.Where(d => d.RequireTlsInbound).Select(d => $"{d.DomainName} reject_plaintext_session"))),
        ];
    }

    /// <summary>The DNSBL zones queried: none unless dnsbl_enabled; each zone once, in the configured order.</summary>
    public static List<string> DnsblZones(GlobalConfig g) =>
        g.DnsblEnabled ? [.. g.DnsblZones.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal)] : [];

    /// <summary>
    /// The client half of the DNSBL whitelist (a cidr table; first match wins, every value is the same
    /// class): relay_networks (our own hosts are never judged by a blocklist) and the ip and cidr entries.
    /// </summary>
    static string DnsblClients(MailStackSnapshot snap)
    {
        if (DnsblZones(snap.Global).Count == 0) return "# check_client_access: unused while the DNSBL is off\n";
        var networks = snap.Global.RelayNetworks.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.Replace("[", "", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal))
            .Concat(snap.Whitelist.Where(e => e.EntryType is "ip" or "cidr").Select(e => e.Value))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return "# check_client_access: relay_networks and the whitelist's ip and cidr entries skip the DNSBL zones\n"
            + string.Concat(networks.Select(n => $"{n} {WhitelistedClass}\n"));
    }

    /// <summary>
    /// The sender half: an address as itself, a domain as itself and as ".domain" (its subdomains,
    /// whatever parent_domain_matches_subdomains says), keys lower-cased (Postfix folds them) and sorted.
    /// </summary>
    static IEnumerable<string> DnsblSenders(MailStackSnapshot snap)
    {
        if (DnsblZones(snap.Global).Count == 0) return [];
        return snap.Whitelist.SelectMany(e => e.EntryType switch
            {
                "domain" => new[] { e.Value.ToLowerInvariant(), "." + e.Value.ToLowerInvariant() },
                "email" => [e.Value.ToLowerInvariant()],
                _ => [],
            })
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(key => $"{key} {WhitelistedClass}");
    }

    /// <summary>
    /// The port-25 DNSBL restrictions (main.cf's mailpanel_dnsbl, before the policy service: a listed
    /// client is refused before it is greylisted). Only A records 127.0.0.2-255 count as a listing:
    /// 127.255.255.x are Spamhaus's error answers (to a query through a public resolver) and must not
    /// refuse every client. A whitelisted client or sender maps to <see cref="WhitelistedClass"/>, which
    /// runs the checks after the DNSBL and ends in permit: that skips only the zones, and never allows
    /// relaying (smtpd_relay_restrictions has decided that before smtpd_recipient_restrictions runs).
    /// </summary>
    static string Dnsbl(GlobalConfig g, RenderSettings s)
    {
        var zones = DnsblZones(g);
        if (zones.Count == 0) return "# DNSBL off (dnsbl_enabled is false or dnsbl_zones is empty)\nmailpanel_dnsbl =";
        return $"""
            # DNSBL (dnsbl_enabled, dnsbl_zones): a listed client gets 554 at RCPT; relay_networks and the whitelist skip only the zones.
            smtpd_restriction_classes = {WhitelistedClass}
            {WhitelistedClass} = $mailpanel_checks, permit
            mailpanel_dnsbl = check_client_access cidr:{Path.Combine(s.PostfixDir, DnsblClientWhitelist)},
                check_sender_access lmdb:{Path.Combine(s.PostfixDir, DnsblSenderWhitelist)},
                {string.Join(",\n    ", zones.Select(z => $"reject_rbl_client {z}=127.0.0.[2..255]"))}
            """;
    }

    /// <summary>
    /// valias: aliases of active domains and active mailboxes' forwards, one line per source (an alias
    /// and a forward of the same address share it). A forward that keeps a copy lists the mailbox
    /// itself first: Postfix does not expand an address that maps to itself, so it is delivered there too.
    /// </summary>
    static IEnumerable<string> VirtualAliases(MailStackSnapshot snap)
    {
        var lines = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        void Add(string source, IEnumerable<string> targets)
        {
            if (!lines.TryGetValue(source, out var list)) lines[source] = list = [];
            foreach (var t in targets) if (!list.Contains(t, StringComparer.OrdinalIgnoreCase)) list.Add(t);
        }
        foreach (var a in snap.Aliases.Where(a => a.DomainActive)) Add(a.Source, [a.Destination]);
        foreach (var f in snap.Forwards.Where(f => f.Active))
        {
            var address = f.Address.ToLowerInvariant();
            var targets = f.ForwardTo.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Add(address, f.KeepCopy ? [address, .. targets] : targets);
        }
        return lines.Select(kv => $"{kv.Key} {string.Join(", ", kv.Value)}");
    }

    /// <summary>
    /// Dovecot's files. The users dict holds passdb, userdb and the deny entries, readable by the
    /// dovecot group only (it holds password hashes); it mirrors the mailbox map's addresses.
    /// </summary>
    public static List<RenderedFile> Dovecot(MailStackSnapshot snap, RenderSettings s)
    {
        var cert = PickCert(snap.Certs, s.Hostname);
        return
        [
            Text(s.DovecotConf, RenderDovecotConf(snap.Global, s, cert, snap.AutoJunkDefault)),
            Text(Path.Combine(s.DovecotDir, "dict-users.conf.ext"), RenderDictConf(s, "dict-users.conf.ext")),
            Text(Path.Combine(s.DovecotDir, "dict-deny.conf.ext"), RenderDictConf(s, "dict-deny.conf.ext")),
            Text(Path.Combine(s.DovecotDir, "dict-insecure.conf.ext"), RenderDictConf(s, "dict-insecure.conf.ext")),
            new(Path.Combine(s.DovecotDir, UsersDict), FileRole.Lookup, Lines(null, () => ActiveUsers(snap).SelectMany(u => UserEntries(u, snap.AutoJunkDefault))))
            {
                KeyOrder = AddressOrder.Instance, ReadsStore = true, Mode = RenderedFile.Mode0640, Group = "dovecot", MirrorOf = MailboxMap,
            },
        ];
    }

    /// <summary>
    /// The Sieve scripts Dovecot's LMTP runs before each mailbox's own: mailpanel.sieve (auto_junk_threshold,
    /// every mailbox) and one vacation script per active mailbox whose effective vacation_enabled is
    /// true, &lt;address&gt;.sieve in a directory that holds nothing else (a script whose mailbox is
    /// no longer on vacation is removed by the apply). Compiled by the unit's check (sievec), so a
    /// script that does not compile fails the reconcile instead of being skipped at delivery.
    /// </summary>
    public static List<RenderedFile> Sieve(MailStackSnapshot snap, RenderSettings s)
    {
        List<RenderedFile> files = [Text(Path.Combine(s.SieveDir, "mailpanel.sieve"), Template("mailpanel.sieve") + s.ExtraSieve)];
        foreach (var v in snap.Vacations.Where(v => v.Active).OrderBy(v => v.Address.ToLowerInvariant(), StringComparer.Ordinal))
        {
            var address = v.Address.ToLowerInvariant();
            var aliases = snap.Aliases.Where(a => a.DomainActive && a.Destination.Split(',', StringSplitOptions.TrimEntries)
                    .Contains(address, StringComparer.OrdinalIgnoreCase))
                .Select(a => a.Source.ToLowerInvariant()).Where(a => a != address).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            files.Add(Text(Path.Combine(s.VacationDir, address + ".sieve"), VacationScript(address, v.Message, aliases)));
        }
        return files;
    }

    /// <summary>
    /// One mailbox's vacation script: at most one reply per sender per day (Pigeonhole keeps the
    /// sender list), from the mailbox's address, to mail addressed to it or to one of its aliases
    /// (RFC 5230: a vacation reply answers only mail whose To/Cc names the user), never to mail the
    /// spam filter flagged. The message is a Sieve string literal: only \ and " are escaped, so the
    /// reply carries the text exactly as written (UTF-8, line breaks, "${...}" and all).
    /// </summary>
    public static string VacationScript(string address, string message, IReadOnlyList<string> aliases)
    {
        var sb = new StringBuilder()
            .Append("# MailPanel: vacation_enabled for ").Append(address).Append(" (vacation_message as written). Edits here are overwritten.\n")
            .Append("require [\"vacation\"];\n")
            .Append("if not header :is \"X-Spam-Flag\" \"YES\" {\n")
            .Append("  vacation :days 1 :from ").Append(SieveString(address));
        if (aliases.Count > 0) sb.Append(" :addresses [").Append(string.Join(", ", aliases.Select(SieveString))).Append(']');
        return sb.Append('\n').Append("    ").Append(SieveString(message)).Append(";\n}\n").ToString();
    }

    /// <summary>A Sieve quoted string (RFC 5228 2.4.2): backslash and double quote escaped, everything else literal.</summary>
    static string SieveString(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// OpenDKIM's files. A hosted, active domain whose effective dkim_enabled is true signs with its
    /// newest key whose file is present; a key whose file is missing (a restore without the key
    /// files) is named in a KeyTable comment and never used.
    /// </summary>
    public static List<RenderedFile> OpenDkim(MailStackSnapshot snap, RenderSettings s)
    {
        var signing = snap.Domains.Where(d => d.Active && d.DkimEnabled).Select(d => d.DomainName).ToHashSet(StringComparer.Ordinal);
        var keys = snap.DkimKeys.Where(k => signing.Contains(k.Domain)).ToList();
        var newest = keys.Where(k => k.Present)
            .GroupBy(k => k.Domain, StringComparer.Ordinal)
            .Select(g => g.OrderByDescending(k => k.CreatedAt, StringComparer.Ordinal).ThenByDescending(k => k.Id).First())
            .OrderBy(k => k.Domain, StringComparer.Ordinal).ToList();
        var missing = keys.Where(k => !k.Present).OrderBy(k => k.Domain, StringComparer.Ordinal).ThenBy(k => k.Selector, StringComparer.Ordinal)
            .Select(k => $"# {k.Domain}/{k.Selector}: {k.PrivateKeyPath} is missing; not signing with it");
        static string Name(MailDkimKey k) => $"{k.Selector}._domainkey.{k.Domain}";
        return
        [
            Text(Path.Combine(s.OpenDkimDir, "opendkim.conf"), Fill(Template("opendkim.conf"), new()
            {
                ["SOCKET"] = s.OpenDkimSocket,
                ["PIDFILE"] = s.OpenDkimPidFile,
                ["DIR"] = s.OpenDkimDir,
                ["HOSTNAME"] = s.Hostname,
                ["USER"] = s.OpenDkimUser is { } user ? $"UserID                  {user}" : "# UserID: no opendkim user on this host, it runs as started",
            })),
            Text(Path.Combine(s.OpenDkimDir, "KeyTable"), string.Concat(
                missing.Concat(newest.Select(k => $"{Name(k)} {k.Domain}:{k.Selector}:{k.PrivateKeyPath}")).Select(l => l + "\n"))),
            Text(Path.Combine(s.OpenDkimDir, "SigningTable"), string.Concat(newest.Select(k => $"{k.Domain} {Name(k)}\n"))),
            Text(Path.Combine(s.OpenDkimDir, "TrustedHosts"), string.Concat(InternalHosts(snap.Global).Select(h => h + "\n"))),
        ];
    }

    /// <summary>The hosts whose mail is ours to sign and not to judge: loopback (submission is relayed through it) and relay_networks.</summary>
    static IEnumerable<string> InternalHosts(GlobalConfig g) =>
        new[] { "127.0.0.1", "::1", "localhost" }
            .Concat(g.RelayNetworks.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => n.Replace("[", "", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal)))
            .Distinct(StringComparer.Ordinal);

    /// <summary>
    /// OpenDMARC's files: it judges inbound mail only (mail from <see cref="InternalHosts"/> and
    /// SASL-authenticated mail is ignored), over OpenDKIM's verification result (same authserv-id)
    /// and its own SPF check, and records the verdict in an Authentication-Results header.
    /// </summary>
    public static List<RenderedFile> OpenDmarc(MailStackSnapshot snap, RenderSettings s) =>
    [
        Text(Path.Combine(s.OpenDmarcDir, "opendmarc.conf"), Fill(Template("opendmarc.conf"), new()
        {
            ["SOCKET"] = s.OpenDmarcSocket,
            ["PIDFILE"] = s.OpenDmarcPidFile,
            ["DIR"] = s.OpenDmarcDir,
            ["HOSTNAME"] = s.Hostname,
            ["PSL"] = s.PublicSuffixList is { } psl ? $"PublicSuffixList        {psl}" : "# PublicSuffixList: none on this host (organizational domain = the From domain itself)",
            ["USER"] = s.OpenDmarcUser is { } user ? $"UserID                  {user}" : "# UserID: no opendmarc user on this host, it runs as started",
        })),
        Text(Path.Combine(s.OpenDmarcDir, "IgnoreHosts"), string.Concat(InternalHosts(snap.Global).Select(h => h + "\n"))),
    ];

    /// <summary>The Dovecot file dict's key prefix: lookups of "passdb/x" read the line "shared/passdb/x".</summary>
    public const string DictPrefix = "shared/";

    /// <summary>
    /// One mailbox in the users dict: alternating key and value lines, keys lower-case (Dovecot looks
    /// up %Lu), values JSON. passdb holds the stored bcrypt hash; userdb the quota rule when the
    /// effective quota is > 0 (0 = unlimited: no rule); deny/SERVICE/address marks each protocol the
    /// effective enabled_imap / enabled_pop3 / enabled_smtp turns off (smtp = SASL on submission).
    /// All lines of one mailbox sit together, mailboxes in <see cref="AddressOrder"/>.
    /// </summary>
    public static IEnumerable<string> UserEntries(MailUser u, double autoJunkDefault = MailUser.DefaultAutoJunk)
    {
        var address = u.Address.ToLowerInvariant();
        if (!u.EnabledImap) { yield return DictPrefix + "deny/imap/" + address; yield return "{}"; }
        if (!u.EnabledPop3) { yield return DictPrefix + "deny/pop3/" + address; yield return "{}"; }
        if (!u.EnabledSmtp) { yield return DictPrefix + "deny/smtp/" + address; yield return "{}"; }
        if (u.RequireTls) { yield return DictPrefix + "deny/insecure/" + address; yield return "{}"; }
        yield return DictPrefix + "passdb/" + address;
        yield return "{\"password\":" + JsonString(u.PasswordHash) + "}";
        yield return DictPrefix + "userdb/" + address;
        List<string> fields = [];
        if (u.QuotaBytes > 0) fields.Add(string.Create(CultureInfo.InvariantCulture, $"\"quota_rule\":\"*:storage={u.QuotaBytes}B\""));
        // A userdb field sets the plugin setting for this user: the auto-junk threshold where it differs from the defaults'.
        if (JunkTenths(u.AutoJunkThreshold) != JunkTenths(autoJunkDefault)) fields.Add($"\"{JunkSetting}\":\"{JunkTenths(u.AutoJunkThreshold)}\"");
        yield return "{" + string.Join(",", fields) + "}";
    }

    /// <summary>The plugin setting mailpanel.sieve reads (vnd.dovecot.config.mailpanel_junk).</summary>
    public const string JunkSetting = "sieve_env_mailpanel_junk";

    /// <summary>A threshold in tenths, as mailpanel.sieve compares it ("7.0" -> 70).</summary>
    public static string JunkTenths(double threshold) => Num((long)Math.Round(threshold * 10, MidpointRounding.AwayFromZero));

    /// <summary>A JSON string literal; escapes keep any stored value on its one dict line.</summary>
    static string JsonString(string value)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            if (c is '"' or '\\') sb.Append('\\').Append(c);
            else if (c < ' ') sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    /// <summary>
    /// Mailboxes that may log in and receive mail: active, in an active domain; in
    /// <see cref="AddressOrder"/> (each call enumerates the snapshot's mailboxes afresh).
    /// </summary>
    public static IEnumerable<MailUser> ActiveUsers(MailStackSnapshot snap) =>
        snap.Users.InOrder().Where(u => u.MailboxActive && u.DomainActive);

    /// <summary>A master.cf service name for an outgoing IP: smtp-203-0-113-10, smtp-2001-db8--1.</summary>
    public static string TransportName(string ip) => "smtp-" + ip.Replace('.', '-').Replace(':', '-');

    static List<string> OutgoingIps(List<DomainEffective> activeDomains) =>
        activeDomains.Select(d => d.OutgoingIp).Where(ip => ip.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// The certificate whose files are present for MAIL_HOSTNAME (uploaded over Let's Encrypt over
    /// self-signed, the newest registration within one kind), else the newest present one.
    /// </summary>
    public static MailCert? PickCert(IReadOnlyList<MailCert> certs, string hostname)
    {
        static int Rank(string issuer) => issuer switch { "uploaded" => 0, "letsencrypt" => 1, _ => 2 };
        var present = certs.Where(c => c.Present).ToList();
        var forHost = present.Where(c => string.Equals(c.Hostname, hostname, StringComparison.OrdinalIgnoreCase))
            .Select((c, i) => (c, i)).OrderBy(x => Rank(x.c.Issuer)).ThenByDescending(x => x.i).Select(x => x.c).ToList();
        return forHost.Count > 0 ? forHost[0] : present.Count > 0 ? present[^1] : null;
    }

    /// <summary>The comment that ties a config to the certificate's bytes (see <see cref="MailCert.Stamp"/>).</summary>
    static string CertComment(MailCert cert) => $"# certificate: {cert.Hostname} ({cert.Issuer}), files {cert.Stamp}";

    /// <summary>Hosted domains with an effective require_tls_inbound: Postfix refuses their recipients in a plaintext session.</summary>
    public const string RequireTlsMap = "require_tls";

    /// <summary>Stored certificate paths are host paths; one already under SYSROOT is kept as is.</summary>
    static string CertPath(RenderSettings s, string path) => s.Paths.Stored(path);

    static string RenderMainCf(GlobalConfig g, RenderSettings s, MailCert? cert, List<string> ips)
    {
        var listenAddrs = new[] { s.SmtpListen, s.SubmissionListen }.Select(Address).ToList();
        var inetInterfaces = listenAddrs.Any(IsWildcard) ? "all" : string.Join(", ", listenAddrs.Select(a => a.ToString()).Distinct(StringComparer.Ordinal));
        string tls;
        if (cert is null)
        {
            // No certificate yet: plaintext only, AUTH in the clear allowed (as the installer's first run).
            tls = "# no certificate registered (tls_certs is empty): no STARTTLS, AUTH allowed without TLS\n"
                + "smtpd_tls_security_level = none\nsmtpd_tls_auth_only = no";
        }
        else
        {
            var min = ">=" + g.TlsMinVersion;
            tls = CertComment(cert) + "\n"
                + $"smtpd_tls_chain_files = {CertPath(s, cert.KeyPath)}, {CertPath(s, cert.CertPath)}\n"
                + "smtpd_tls_security_level = may\nsmtpd_tls_auth_only = yes\n"
                + $"smtpd_tls_protocols = {min}\nsmtpd_tls_mandatory_protocols = {min}\n"
                + $"smtpd_tls_mandatory_ciphers = {g.CipherPolicy}\nsmtpd_tls_loglevel = 1";
        }
        var anyV6 = listenAddrs.Any(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            || ips.Any(ip => ip.Contains(':', StringComparison.Ordinal));
        return Fill(Template("main.cf"), new()
        {
            ["POSTFIX_DIR"] = s.PostfixDir,
            ["QUEUE_DIR"] = s.QueueDir,
            ["DATA_DIR"] = s.PostfixDataDir,
            ["LOG_DIR"] = s.LogDir,
            ["INSTANCE"] = s.Instance,
            ["MYHOSTNAME"] = s.Hostname,
            ["INET_INTERFACES"] = inetInterfaces,
            ["INET_PROTOCOLS"] = anyV6 ? "all" : "ipv4",
            ["RELAY_NETWORKS"] = g.RelayNetworks,
            ["CONN_PER_CLIENT"] = Num(Math.Max(1, (g.MaxSmtpdConnections + 1) / 2)),
            ["RATE_PER_MIN"] = Num(g.MaxSmtpdRatePerMin),
            ["LMTP_SOCKET"] = s.LmtpSocket,
            ["MESSAGE_SIZE_LIMIT"] = Num(g.MessageSizeLimit),
            ["TLS"] = tls,
            ["MILTERS"] = Milters(s),
            ["DNSBL"] = Dnsbl(g, s),
            ["EXTRA"] = s.ExtraMainCf,
        });
    }

    /// <summary>
    /// OpenDKIM signs outbound and verifies inbound mail; OpenDMARC, after it, judges inbound SMTP
    /// mail (Postfix hands each milter the message as the previous one left it, so OpenDMARC reads
    /// OpenDKIM's Authentication-Results); the daemon's content filter comes last (spam and virus
    /// verdicts on the message as the others left it). A dead milter never loses or defers mail.
    /// </summary>
    static string Milters(RenderSettings s)
    {
        List<string> smtpd = [], local = [];
        if (s.OpenDkim) { smtpd.Add("unix:" + s.OpenDkimSocket); local.Add("unix:" + s.OpenDkimSocket); }
        if (s.OpenDmarc) smtpd.Add("unix:" + s.OpenDmarcSocket);
        if (s.ContentFilter) smtpd.Add("unix:" + s.ContentFilterSocket);
        if (smtpd.Count == 0) return "# ---- milters: none (neither OpenDKIM nor OpenDMARC is installed) ----";
        return $"""
            # ---- milters: {(s.OpenDkim ? "OpenDKIM signs outbound and verifies inbound mail" : "no OpenDKIM")}; {(s.OpenDmarc ? "OpenDMARC judges inbound SMTP mail" : "no OpenDMARC")}{(s.ContentFilter ? "; MailPanel's content filter (spamd, clamd, quarantine) last" : "")} ----
            milter_default_action = accept
            milter_protocol = 6
            smtpd_milters = {string.Join(", ", smtpd)}
            non_smtpd_milters = {string.Join(", ", local)}
            """;
    }

    static string RenderMasterCf(GlobalConfig g, RenderSettings s, MailCert? cert, List<string> ips)
    {
        var transports = new StringBuilder();
        foreach (var ip in ips)
        {
            var name = TransportName(ip);
            var bind = ip.Contains(':', StringComparison.Ordinal) ? "smtp_bind_address6" : "smtp_bind_address";
            transports.Append(CultureInfo.InvariantCulture, $"{name} unix  -       -       n       -       -       smtp\n")
                .Append(CultureInfo.InvariantCulture, $"  -o {bind}={ip}\n")
                .Append(CultureInfo.InvariantCulture, $"  -o syslog_name=postfix-{s.Instance}/{name}\n");
        }
        return Fill(Template("master.cf"), new()
        {
            ["SMTP_LISTEN"] = MasterListen(s.SmtpListen),
            ["SMTPD_MAXPROC"] = Num(g.MaxSmtpdConnections),
            ["SUBMISSION_LISTEN"] = MasterListen(s.SubmissionListen),
            ["INSTANCE"] = s.Instance,
            // Once a certificate exists, submission demands STARTTLS before AUTH.
            ["SUBMISSION_TLS_LEVEL"] = cert is null ? "none" : "encrypt",
            ["SUBMISSION_TLS_AUTH_ONLY"] = cert is null ? "no" : "yes",
            ["OUTBOUND_TRANSPORTS"] = transports.ToString().TrimEnd('\n'),
        });
    }

    static string RenderDovecotConf(GlobalConfig g, RenderSettings s, MailCert? cert, double autoJunkDefault)
    {
        var imap = Endpoint(s.ImapListen);
        var pop3 = Endpoint(s.Pop3Listen);
        // Implicit TLS (993/995) listens only once there is a certificate to present.
        string TlsListener(string name, string listen)
        {
            if (cert is null) return $"  inet_listener {name} {{\n    port = 0\n  }}";
            var ep = Endpoint(listen);
            return $"  inet_listener {name} {{\n    address = {DovecotAddress(ep.Address)}\n    port = {Num(ep.Port)}\n    ssl = yes\n  }}";
        }
        var tls = cert is null
            ? "# no certificate registered: plaintext logins allowed (2.3 name; 2.4 calls it auth_allow_cleartext)\nssl = no\ndisable_plaintext_auth = no"
            : CertComment(cert) + $"\nssl = required\nssl_cert = <{CertPath(s, cert.CertPath)}\nssl_key = <{CertPath(s, cert.KeyPath)}\n"
              + $"ssl_min_protocol = {g.TlsMinVersion}\nssl_cipher_list = {(g.CipherPolicy == "high" ? "HIGH:!aNULL:!MD5" : "HIGH:MEDIUM:!aNULL:!MD5:!RC4")}\n"
              + "disable_plaintext_auth = yes";
        return Fill(Template("dovecot.conf"), new()
        {
            ["DOVECOT_CONF"] = s.DovecotConf,
            ["DOVECOT_DIR"] = s.DovecotDir,
            ["INSTANCE"] = s.Instance,
            ["MYHOSTNAME"] = s.Hostname,
            ["BASE_DIR"] = s.DovecotBaseDir,
            ["STATE_DIR"] = s.DovecotStateDir,
            ["LOG_DIR"] = s.LogDir,
            ["QUEUE_DIR"] = s.QueueDir,
            ["LMTP_SOCKET"] = s.LmtpSocket,
            ["VMAIL_DIR"] = s.VmailDir.TrimEnd('/'),
            ["VMAIL_UID"] = Num(s.VmailUid),
            ["VMAIL_GID"] = Num(s.VmailGid),
            ["IMAP_ADDR"] = DovecotAddress(imap.Address),
            ["IMAP_PORT"] = Num(imap.Port),
            ["POP3_ADDR"] = DovecotAddress(pop3.Address),
            ["POP3_PORT"] = Num(pop3.Port),
            ["IMAPS"] = TlsListener("imaps", s.ImapsListen),
            ["POP3S"] = TlsListener("pop3s", s.Pop3sListen),
            ["TLS"] = tls,
            ["SIEVE_DIR"] = s.SieveDir,
            ["VACATION_DIR"] = s.VacationDir,
            ["JUNK_SETTING"] = JunkSetting,
            ["JUNK_TENTHS"] = JunkTenths(autoJunkDefault),
            ["SUBMISSION_HOST"] = SubmissionHost(s.SmtpListen),
        });
    }

    /// <summary>
    /// Where Sieve's replies (vacation) are sent: this host's own SMTP listener over loopback, so they
    /// leave through Postfix like any mail (queued, DKIM-signed, relayed as a relay_networks client).
    /// </summary>
    static string SubmissionHost(string smtpListen)
    {
        var ep = Endpoint(smtpListen);
        var host = ep.Address.Equals(IPAddress.Any) ? "127.0.0.1"
            : ep.Address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ep.Address}]" : ep.Address.ToString();
        return $"{host}:{Num(ep.Port)}";
    }

    /// <summary>A dict passdb/userdb config (dict-users.conf.ext, dict-deny.conf.ext) over the users dict.</summary>
    static string RenderDictConf(RenderSettings s, string template) =>
        Fill(Template(template), new() { ["USERS_DICT"] = Path.Combine(s.DovecotDir, UsersDict) });

    static IPEndPoint Endpoint(string listen) =>
        Validate.TryParseListen(listen, out var ep) ? ep : throw new InvalidOperationException($"bad listen address {listen}");

    static IPAddress Address(string listen) => Endpoint(listen).Address;

    static bool IsWildcard(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    /// <summary>master.cf service name: a wildcard address listens on inet_interfaces (port only).</summary>
    static string MasterListen(string listen)
    {
        var ep = Endpoint(listen);
        if (IsWildcard(ep.Address)) return Num(ep.Port);
        return ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ep.Address}]:{Num(ep.Port)}" : $"{ep.Address}:{Num(ep.Port)}";
    }

    /// <summary>Dovecot's spelling: "*" = every IPv4 address, "::" = every IPv6 address.</summary>
    static string DovecotAddress(IPAddress a) =>
        a.Equals(IPAddress.Any) ? "*" : a.Equals(IPAddress.IPv6Any) ? "::" : a.ToString();

    static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    static RenderedFile Text(string path, string text)
    {
        var bytes = Utf8(text);
        return new RenderedFile(path, FileRole.Config, stream => stream.Write(bytes));
    }

    /// <summary>A file of lines, each ending in LF, streamed as UTF-8 when written (never held whole).</summary>
    static Action<Stream> Lines(string? header, Func<IEnumerable<string>> lines) => stream =>
    {
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        if (header is not null) writer.Write(header + "\n");
        foreach (var line in lines()) { writer.Write(line); writer.Write('\n'); }
    };

    static readonly Dictionary<string, string> Templates = new(StringComparer.Ordinal);

    /// <summary>An embedded template (Render/Templates/NAME, logical name templates/NAME).</summary>
    public static string Template(string name)
    {
        lock (Templates)
        {
            if (Templates.TryGetValue(name, out var cached)) return cached;
            using var stream = typeof(MailRender).Assembly.GetManifestResourceStream("templates/" + name)
                ?? throw new InvalidOperationException($"template {name} is not embedded");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return Templates[name] = reader.ReadToEnd();
        }
    }

    /// <summary>Replaces every {{NAME}}; a placeholder left over is a bug, never a file on disk.</summary>
    static string Fill(string template, Dictionary<string, string> values)
    {
        var sb = new StringBuilder(template);
        foreach (var (key, value) in values) sb.Replace("{{" + key + "}}", value);
        var text = sb.ToString();
        var at = text.IndexOf("{{", StringComparison.Ordinal);
        if (at >= 0) throw new InvalidOperationException($"unrendered placeholder near '{text[at..Math.Min(text.Length, at + 30)]}'");
        return text;
    }
}
