using System.Text;
using System.Text.RegularExpressions;

namespace MailPanel.Tests.MailStack;

/// <summary>Render/ is pure: these build snapshots by hand and read the bytes.</summary>
public class RenderTests
{
    static readonly RenderSettings Settings = new()
    {
        Paths = new MailPaths("/srv/root"),
        VmailDir = "/var/vmail",
        VmailUid = 999,
        VmailGid = 995,
        Hostname = "mail.example.com",
        SmtpListen = "0.0.0.0:25",
        SubmissionListen = "0.0.0.0:587",
        ImapListen = "0.0.0.0:143",
        Pop3Listen = "127.0.0.1:110",
    };

    static readonly GlobalConfig Global = new()
    {
        MessageSizeLimit = 26214400,
        MaxSmtpdConnections = 100,
        MaxSmtpdRatePerMin = 600,
        RelayNetworks = "127.0.0.0/8 [::1]/128",
        TlsMinVersion = "TLSv1.2",
        CipherPolicy = "high",
        SpamRemoteHost = "",
        SpamRemotePort = 783,
        SpamRemoteNetwork = "",
        DnsblEnabled = false,
        DnsblZones = "",
        GreylistEnabled = false,
        GreylistDelaySeconds = 300,
        GreylistMaxAgeDays = 35,
    };

    static DomainEffective Domain(long id, string name, bool active = true, string ip = "") =>
        new(id, name, ip, 0, 100, 100, 0, true, "~all", "none", 5, "tag", "quarantine", false, false, active);

    static MailUser User(DomainEffective d, long id, string name, bool active = true, long quota = 0, bool imap = true, bool pop3 = false, bool smtp = true) =>
        new("{BLF-CRYPT}$2b$10$" + new string('a', 53), new MailboxEffective(id, name, d.DomainId, d.DomainName, quota, smtp, imap, pop3,
            1000, 100, 0, 5, "tag", 7, false, "", "", true, false, "quarantine", false, false, true, "~all", "none", active, d.Active));

    static string File(List<RenderedFile> files, string name) =>
        Encoding.UTF8.GetString(files.Single(f => Path.GetFileName(f.Path) == name).Bytes());

    /// <summary>The users dict as (key, value) pairs, in file order.</summary>
    static List<(string Key, string Value)> Dict(List<RenderedFile> files)
    {
        var lines = File(files, MailRender.UsersDict).Split('\n');
        Assert.Equal("", lines[^1]); // every line ends in LF
        Assert.Equal(1, lines.Length % 2); // key/value pairs
        return Enumerable.Range(0, lines.Length / 2).Select(i => (lines[2 * i], lines[2 * i + 1])).ToList();
    }

    static MailStackSnapshot Sample(bool reversed = false)
    {
        var a = Domain(1, "b.example", ip: "203.0.113.10");
        var b = Domain(2, "a.example", ip: "203.0.113.10");
        var c = Domain(3, "off.example", active: false, ip: "198.51.100.7");
        var d = Domain(4, "v6.example", ip: "2001:db8::1");
        List<DomainEffective> domains = [a, b, c, d];
        List<MailUser> users = [User(a, 1, "zed", quota: 2048), User(a, 2, "amy", pop3: true), User(b, 3, "sleepy", active: false),
            User(c, 4, "ghost"), User(b, 5, "noimap", imap: false, smtp: false)];
        List<MailAlias> aliases = [new("info@b.example", "amy@b.example", true), new("x@off.example", "ghost@off.example", false)];
        if (reversed) { domains.Reverse(); users.Reverse(); aliases.Reverse(); }
        return new MailStackSnapshot(Global, domains, MailUsers.Of(users), aliases, [], []);
    }

    [Fact]
    public void SameDataRendersTheSameBytesWhateverTheInputOrder()
    {
        var one = MailRender.All(Sample(), Settings);
        var two = MailRender.All(Sample(reversed: true), Settings);
        Assert.Equal(one.Select(f => f.Path), two.Select(f => f.Path));
        for (var i = 0; i < one.Count; i++) Assert.Equal(one[i].Bytes(), two[i].Bytes());
        Assert.All(one, f => Assert.StartsWith("/srv/root/", f.Path, StringComparison.Ordinal));
        Assert.All(one, f => Assert.DoesNotContain("{{", Encoding.UTF8.GetString(f.Bytes()), StringComparison.Ordinal));
    }

    [Fact]
    public void InactiveDomainsAndMailboxesDropOutOfMapsAndUsers()
    {
        var files = MailRender.All(Sample(), Settings);
        Assert.Equal("# virtual_mailbox_domains: active hosted domains\na.example OK\nb.example OK\nv6.example OK\n", File(files, "vdomains"));
        var vmailbox = File(files, "vmailbox");
        Assert.Contains("amy@b.example b.example/amy/\n", vmailbox, StringComparison.Ordinal);
        Assert.DoesNotContain("sleepy", vmailbox, StringComparison.Ordinal);
        Assert.DoesNotContain("ghost", vmailbox, StringComparison.Ordinal);
        Assert.DoesNotContain("off.example", File(files, "valias"), StringComparison.Ordinal);
        var dict = Dict(files);
        Assert.DoesNotContain(dict, e => e.Key.Contains("sleepy", StringComparison.Ordinal) || e.Key.Contains("ghost", StringComparison.Ordinal));
        Assert.Equal(new[] { "noimap@a.example", "amy@b.example", "zed@b.example" }, // by domain, then local part
            dict.Where(e => e.Key.StartsWith("shared/passdb/", StringComparison.Ordinal)).Select(e => e.Key["shared/passdb/".Length..]));
    }

    [Fact]
    public void UsersDictCarriesTheHashAndAQuotaRuleOnlyWhenLimited()
    {
        var dict = Dict(MailRender.All(Sample(), Settings));
        Assert.Equal("{\"password\":\"{BLF-CRYPT}$2b$10$" + new string('a', 53) + "\"}", dict.Single(e => e.Key == "shared/passdb/zed@b.example").Value);
        Assert.Equal("{\"quota_rule\":\"*:storage=2048B\"}", dict.Single(e => e.Key == "shared/userdb/zed@b.example").Value);
        Assert.Equal("{}", dict.Single(e => e.Key == "shared/userdb/amy@b.example").Value);
        // One mailbox's entries sit together, mailboxes in address order (the apply diffs by mailbox).
        var owners = dict.Select(e => e.Key[(e.Key.LastIndexOf('/') + 1)..]).ToList();
        Assert.Equal(owners.Distinct().Order(AddressOrder.Instance), owners.Distinct());
        Assert.Equal(owners.Distinct().Count(), owners.Select((o, i) => i == 0 || owners[i - 1] != o).Count(x => x));
    }

    [Fact]
    public void DenyEntriesFollowTheEffectiveProtocolToggles()
    {
        var deny = Dict(MailRender.All(Sample(), Settings)).Where(e => e.Key.StartsWith("shared/deny/", StringComparison.Ordinal)).Select(e => e.Key).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { "shared/deny/imap/noimap@a.example", "shared/deny/pop3/noimap@a.example", "shared/deny/pop3/zed@b.example", "shared/deny/smtp/noimap@a.example" }, deny); // amy has enabled_pop3
    }

    [Fact]
    public void DovecotReadsTheUsersDictThroughDictPassdbAndUserdb()
    {
        var files = MailRender.All(Sample(), Settings);
        var conf = File(files, "dovecot.conf");
        Assert.Contains("args = /srv/root/etc/dovecot/dict-deny.conf.ext\n  deny = yes", conf, StringComparison.Ordinal);
        Assert.Contains("uri = file:/srv/root/etc/dovecot/users.dict\n", File(files, "dict-users.conf.ext"), StringComparison.Ordinal);
        Assert.Contains("key = deny/%s/%Lu", File(files, "dict-deny.conf.ext"), StringComparison.Ordinal);
    }

    [Fact]
    public void EachDistinctOutgoingIpGetsOneBoundTransport()
    {
        var files = MailRender.All(Sample(), Settings);
        var master = File(files, "master.cf");
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(master, "^smtp-203-0-113-10 unix", System.Text.RegularExpressions.RegexOptions.Multiline));
        Assert.Contains("  -o smtp_bind_address=203.0.113.10\n", master, StringComparison.Ordinal);
        Assert.Contains("  -o smtp_bind_address6=2001:db8::1\n", master, StringComparison.Ordinal);
        Assert.DoesNotContain("198.51.100.7", master, StringComparison.Ordinal); // its domain is inactive
        Assert.Equal("# sender_dependent_default_transport_maps: sender domain -> transport bound to domains.outgoing_ip\n"
            + "@a.example smtp-203-0-113-10\n@b.example smtp-203-0-113-10\n@v6.example smtp-2001-db8--1\n", File(files, "sender_transport"));
        Assert.Contains("inet_protocols = all", File(files, "main.cf"), StringComparison.Ordinal);
    }

    [Fact]
    public void GlobalTierReachesMainCfAndMasterCf()
    {
        var files = MailRender.All(Sample() with { Global = Global with { MessageSizeLimit = 1048576, MaxSmtpdConnections = 20, MaxSmtpdRatePerMin = 30, RelayNetworks = "10.0.0.0/8" } }, Settings);
        var main = File(files, "main.cf");
        Assert.Contains("mynetworks = 10.0.0.0/8\n", main, StringComparison.Ordinal);
        Assert.Contains("message_size_limit = 1048576\n", main, StringComparison.Ordinal);
        Assert.Contains("smtpd_client_connection_count_limit = 10\n", main, StringComparison.Ordinal);
        Assert.Contains("smtpd_client_connection_rate_limit = 30\nanvil_rate_time_unit = 60s\n", main, StringComparison.Ordinal);
        Assert.Contains("smtpd_tls_security_level = none", main, StringComparison.Ordinal); // no certificate
        Assert.Contains("\n25 inet  n       -       n       -       20     smtpd\n", File(files, "master.cf"), StringComparison.Ordinal);
        Assert.Contains("address = 127.0.0.1\n    port = 110\n", File(files, "dovecot.conf"), StringComparison.Ordinal);
    }

    [Fact]
    public void ACertificateSwitchesOnTlsAndRequiresItOnSubmission()
    {
        var snap = Sample() with { Certs = [new MailCert("mail.example.com", "/etc/backendside-mailpanel/tls/c.pem", "/etc/backendside-mailpanel/tls/k.pem", "self")] };
        var files = MailRender.All(snap, Settings with { });
        var main = File(files, "main.cf");
        Assert.Contains("smtpd_tls_chain_files = /srv/root/etc/backendside-mailpanel/tls/k.pem, /srv/root/etc/backendside-mailpanel/tls/c.pem", main, StringComparison.Ordinal);
        Assert.Contains("smtpd_tls_protocols = >=TLSv1.2\nsmtpd_tls_mandatory_protocols = >=TLSv1.2\nsmtpd_tls_mandatory_ciphers = high", main, StringComparison.Ordinal);
        Assert.Contains("-o smtpd_tls_security_level=encrypt", File(files, "master.cf"), StringComparison.Ordinal);
        Assert.Contains("ssl = required", File(files, "dovecot.conf"), StringComparison.Ordinal);
        Assert.Contains("inet_listener imaps {\n    address = *\n    port = 993\n    ssl = yes\n  }", File(files, "dovecot.conf"), StringComparison.Ordinal);
        Assert.Contains("# certificate: mail.example.com (self), files present\n", main, StringComparison.Ordinal);
    }

    [Fact]
    public void TheConfigsNameTheCertificateFilesDigestAndSkipACertificateWhoseFilesAreMissing()
    {
        MailCert Cert(string issuer, string stamp) => new("mail.example.com", $"/etc/{issuer}/c.pem", $"/etc/{issuer}/k.pem", issuer, stamp);
        var one = MailRender.All(Sample() with { Certs = [Cert("self", "aaaa")] }, Settings);
        var two = MailRender.All(Sample() with { Certs = [Cert("self", "bbbb")] }, Settings);
        foreach (var name in new[] { "main.cf", "dovecot.conf" }) Assert.NotEqual(File(one, name), File(two, name)); // a renewal in place reloads
        // The uploaded certificate wins, unless its files are gone: then the next one serves.
        var missing = MailRender.All(Sample() with { Certs = [Cert("self", "aaaa"), Cert("uploaded", "")] }, Settings);
        Assert.Contains("smtpd_tls_chain_files = /srv/root/etc/self/k.pem, /srv/root/etc/self/c.pem", File(missing, "main.cf"), StringComparison.Ordinal);
        var present = MailRender.All(Sample() with { Certs = [Cert("self", "aaaa"), Cert("uploaded", "cccc")] }, Settings);
        Assert.Contains("smtpd_tls_chain_files = /srv/root/etc/uploaded/k.pem, /srv/root/etc/uploaded/c.pem", File(present, "main.cf"), StringComparison.Ordinal);
        var none = MailRender.All(Sample() with { Certs = [Cert("uploaded", "")] }, Settings);
        Assert.Contains("smtpd_tls_security_level = none", File(none, "main.cf"), StringComparison.Ordinal);
    }

    [Fact]
    public void ForwardsJoinTheAliasesInValiasOneLinePerSource()
    {
        var snap = Sample() with { };
        snap = snap with
        {
            Forwards =
            [
                new MailForward("zed@b.example", "out@elsewhere.example", KeepCopy: true, Active: true),
                new MailForward("info@b.example", "boss@elsewhere.example", KeepCopy: false, Active: true), // also an alias source
                new MailForward("ghost@off.example", "x@elsewhere.example", KeepCopy: false, Active: false),
            ],
        };
        Assert.Equal("# virtual_alias_maps: aliases of active domains, and mailboxes that forward (forward_to)\n"
            + "info@b.example amy@b.example, boss@elsewhere.example\n"
            + "zed@b.example zed@b.example, out@elsewhere.example\n", File(MailRender.All(snap, Settings), "valias"));
    }

    [Fact]
    public void RequireTlsFlagsReachPostfixAndTheUsersDict()
    {
        var snap = Sample();
        var strict = snap.Domains[0] with { RequireTlsInbound = true };
        var users = snap.Users.InOrder().Select(u => u.Username == "amy" ? u with { RequireTls = true } : u).ToList();
        var files = MailRender.All(snap with { Domains = [strict, .. snap.Domains.Skip(1)], Users = MailUsers.Of(users) }, Settings);
        Assert.Equal("# check_recipient_access: domains whose effective require_tls_inbound is true\nb.example reject_plaintext_session\n", File(files, "require_tls"));
        Assert.Contains("smtpd_recipient_restrictions = check_recipient_access lmdb:/srv/root/etc/postfix/require_tls, $mailpanel_dnsbl, $mailpanel_checks\n", File(files, "main.cf"), StringComparison.Ordinal);
        var dict = File(files, "users.dict");
        Assert.Contains("shared/deny/insecure/amy@b.example\n{}\n", dict, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(dict, "deny/insecure/"));
        Assert.Contains("key = deny/insecure%{secured}/%Lu", File(files, "dict-insecure.conf.ext"), StringComparison.Ordinal);
    }

    static readonly MailWhitelistEntry[] Whitelist =
    [
        new("email", "News@Partner.example"), new("ip", "203.0.113.10"), new("domain", "friends.example"),
        new("cidr", "2001:db8::/32"), new("email", "news@partner.example"), new("cidr", "10.0.0.0/8"),
    ];

    [Fact]
    public void DnsblOffRendersNoZonesAndWhitelistChangesTouchNoFile()
    {
        var snap = Sample() with { Global = Global with { DnsblEnabled = false, DnsblZones = "zen.spamhaus.org" } };
        var files = MailRender.Postfix(snap, Settings);
        var main = File(files, MailRender.MainCf);
        Assert.Contains("\nmailpanel_dnsbl =\n", main, StringComparison.Ordinal);
        Assert.DoesNotContain("reject_rbl_client", main, StringComparison.Ordinal);
        Assert.DoesNotContain("smtpd_restriction_classes", main, StringComparison.Ordinal);
        Assert.Equal("# check_client_access: unused while the DNSBL is off\n", File(files, MailRender.DnsblClientWhitelist));
        Assert.Equal("# check_sender_access: unused while the DNSBL is off\n", File(files, MailRender.DnsblSenderWhitelist));
        // While it is off the whitelist lives in the policy service only: nothing to write, nothing to reload.
        var withWhitelist = MailRender.Postfix(snap with { Whitelist = Whitelist }, Settings);
        for (var i = 0; i < files.Count; i++) Assert.Equal(files[i].Bytes(), withWhitelist[i].Bytes());
        // Enabled with no zone is off too.
        var noZones = MailRender.Postfix(snap with { Global = Global with { DnsblEnabled = true, DnsblZones = "" }, Whitelist = Whitelist }, Settings);
        Assert.Equal(main, File(noZones, MailRender.MainCf));
    }

    [Fact]
    public void DnsblZonesComeAfterTheWhitelistAndBeforeThePolicyService()
    {
        var snap = Sample() with
        {
            Global = Global with { DnsblEnabled = true, DnsblZones = "zen.spamhaus.org bl.spamcop.net ZEN.spamhaus.org" },
            Whitelist = Whitelist,
        };
        var files = MailRender.Postfix(snap, Settings);
        var main = File(files, MailRender.MainCf);
        Assert.Contains("""
            smtpd_restriction_classes = mailpanel_whitelisted
            mailpanel_whitelisted = $mailpanel_checks, permit
            mailpanel_dnsbl = check_client_access cidr:/srv/root/etc/postfix/dnsbl_client_whitelist,
                check_sender_access lmdb:/srv/root/etc/postfix/dnsbl_sender_whitelist,
                reject_rbl_client zen.spamhaus.org=127.0.0.[2..255],
                reject_rbl_client bl.spamcop.net=127.0.0.[2..255]
            smtpd_recipient_restrictions = check_recipient_access lmdb:/srv/root/etc/postfix/require_tls, $mailpanel_dnsbl, $mailpanel_checks

            """, main, StringComparison.Ordinal);
        Assert.Contains("mailpanel_checks = $mailpanel_policy, check_policy_service { unix:private/quota-status, default_action=DUNNO }\n", main, StringComparison.Ordinal);
        // Relay control is untouched: the class's permit comes after smtpd_relay_restrictions.
        Assert.Contains("smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n", main, StringComparison.Ordinal);

        Assert.Equal("# check_client_access: relay_networks and the whitelist's ip and cidr entries skip the DNSBL zones\n"
            + "10.0.0.0/8 mailpanel_whitelisted\n127.0.0.0/8 mailpanel_whitelisted\n2001:db8::/32 mailpanel_whitelisted\n"
            + "203.0.113.10 mailpanel_whitelisted\n::1/128 mailpanel_whitelisted\n", File(files, MailRender.DnsblClientWhitelist));
        Assert.Equal("# check_sender_access: whitelisted sender domains (and their subdomains) and addresses skip the DNSBL zones\n"
            + ".friends.example mailpanel_whitelisted\nfriends.example mailpanel_whitelisted\nnews@partner.example mailpanel_whitelisted\n",
            File(files, MailRender.DnsblSenderWhitelist));
        // The client table is read when smtpd starts (a config: a change reloads Postfix); the sender table is an lmdb map.
        Assert.Equal(FileRole.Config, files.Single(f => f.Name == MailRender.DnsblClientWhitelist).Role);
        Assert.Equal(FileRole.Table, files.Single(f => f.Name == MailRender.DnsblSenderWhitelist).Role);
    }

    [Fact]
    public void EachUnitOwnsItsFilesAndTheirDirectories()
    {
        var all = Units.All.SelectMany(u => u.Render(Sample(), Settings).Select(f => (Unit: u, File: f))).ToList();
        Assert.Equal(all.Count, all.Select(x => x.File.Path).Distinct().Count()); // no file rendered twice
        Assert.Equal(Units.All.Length, Units.All.Select(u => u.Name).Distinct().Count());
        foreach (var (unit, file) in all)
        {
            // The sweep of interrupted applies and the directory set-up cover every file the unit writes.
            Assert.Contains(Path.GetDirectoryName(file.Path), unit.Directories(Settings).Where(d => d.Sweep).Select(d => d.Path));
            if (file.MirrorOf is { } mirror)
                Assert.Contains(all, x => x.File.Name == mirror && x.File.Role == FileRole.Table);
            Assert.True(file.Role == FileRole.Table || !file.ReloadsDaemon, $"{file.Name}: only a table says whether its change needs a reload");
        }
        // The users dict holds password hashes: never world-readable.
        var dict = all.Single(x => x.File.Name == MailRender.UsersDict).File;
        Assert.Equal(UnixFileMode.None, dict.Mode & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite));
        Assert.Equal("dovecot", dict.Group);
    }

    [Fact]
    public void OpenDkimSignsActiveEnabledDomainsWithTheirNewestPresentKey()
    {
        var snap = Sample() with
        {
            Domains = [.. Sample().Domains, Domain(5, "nodkim.example") with { DkimEnabled = false }],
            DkimKeys =
            [
                new("b.example", "old", "/k/b.example/old.private", "2026-01-01T00:00:00Z", 1),
                new("b.example", "new", "/k/b.example/new.private", "2026-06-01T00:00:00Z", 2),
                new("a.example", "gone", "/k/a.example/gone.private", "2026-06-01T00:00:00Z", 3, Present: false),
                new("off.example", "default", "/k/off.example/default.private", "2026-06-01T00:00:00Z", 4),
                new("nodkim.example", "default", "/k/nodkim.example/default.private", "2026-06-01T00:00:00Z", 5),
                new("not-hosted.example", "default", "/k/not-hosted.example/default.private", "2026-06-01T00:00:00Z", 6),
            ],
        };
        var files = MailRender.OpenDkim(snap, Settings with { OpenDkim = true });
        Assert.Equal("# a.example/gone: /k/a.example/gone.private is missing; not signing with it\n"
            + "new._domainkey.b.example b.example:new:/k/b.example/new.private\n", File(files, "KeyTable"));
        Assert.Equal("b.example new._domainkey.b.example\n", File(files, "SigningTable"));
        Assert.StartsWith("127.0.0.1\n::1\nlocalhost\n", File(files, "TrustedHosts"), StringComparison.Ordinal);
        Assert.Contains("Socket                  local:" + Settings.OpenDkimSocket, File(files, "opendkim.conf"), StringComparison.Ordinal);
        // Postfix passes mail through the milter only when OpenDKIM is there, and never loses mail to a dead one.
        var withMilter = File(MailRender.Postfix(snap, Settings with { OpenDkim = true }), MailRender.MainCf);
        Assert.Contains("smtpd_milters = unix:" + Settings.OpenDkimSocket, withMilter, StringComparison.Ordinal);
        Assert.Contains("milter_default_action = accept", withMilter, StringComparison.Ordinal);
        Assert.DoesNotContain("smtpd_milters", File(MailRender.Postfix(snap, Settings), MailRender.MainCf), StringComparison.Ordinal);
    }
}
