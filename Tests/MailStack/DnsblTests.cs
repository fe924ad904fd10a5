using System.Net;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// A mail stack of its own whose Postfix resolves through a dnsmasq on a loopback address: the
/// blocklist zones the test serves, NXDOMAIN for every other name (as the shared stack sees them).
/// Postfix starts in a private mount namespace with a resolv.conf naming that dnsmasq bound over
/// /etc/resolv.conf, so the host's resolver is untouched.
/// </summary>
public sealed class DnsblStackFixture : MailStackFixture
{
    public const string ZoneA = "bl.dnsbl.test", ZoneB = "bl2.dnsbl.test";

    /// <summary>The listings: (client, zone, answer). 127.255.255.254 is how Spamhaus answers a query through a public resolver: not a listing.</summary>
    public static readonly (string Client, string Zone, string Answer)[] Listed =
    [
        ("127.0.2.77", ZoneA, "127.0.0.2"),
        ("127.0.2.78", ZoneB, "127.0.0.4"),
        ("127.0.2.79", ZoneA, "127.0.0.2"),
        ("127.0.2.81", ZoneA, "127.0.0.2"),
        ("127.0.2.82", ZoneA, "127.0.0.2"),
        ("127.0.2.85", ZoneA, "127.0.0.2"),
        ("127.0.2.90", ZoneA, "127.255.255.254"),
        ("127.0.0.1", ZoneA, "127.0.0.2"),
    ];

    string dir = "";

    string PidFile => Path.Combine(dir, "dnsmasq.pid");

    public string QueryLog => Path.Combine(dir, "dnsmasq.log");

    /// <summary>What the DNSBL stack needs beyond the shared stack's binaries (null = all there).</summary>
    public static string? MissingTools() =>
        Missing() ?? (new[] { "dnsmasq", "unshare", "mount" }.Where(b => MailPanel.Sys.Run.Which(b) is null).ToList() is { Count: > 0 } m
            ? "missing binaries: " + string.Join(", ", m) : null);

    public override async Task InitializeAsync()
    {
        if (MissingTools() is { } missing)
        {
            if (InCi) throw new InvalidOperationException($"CI=true but the DNSBL stack cannot run: {missing}");
            return; // every test is skipped by DnsblFact
        }
        dir = Path.Combine("/run/mp", "dns-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, RenderedFile.Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        // A loopback address of its own (port 53 is fixed by resolv.conf): parallel runs do not collide.
        var address = $"127.53.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}";
        List<string> args = ["--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", $"--listen-address={address}", "--port=53",
            "--user=root", "--address=/#/", $"--pid-file={PidFile}", "--log-queries", $"--log-facility={QueryLog}"];
        foreach (var (client, zone, answer) in Listed)
            args.Add($"--host-record={string.Join('.', client.Split('.').Reverse())}.{zone},{answer}");
        var started = await MailPanel.Sys.Run.Exec("sh", ["-c", "exec \"$@\" </dev/null >/dev/null 2>&1", "sh", "dnsmasq", .. args], TimeSpan.FromSeconds(30));
        if (!started.Ok || !File.Exists(PidFile)) throw new InvalidOperationException("dnsmasq start: " + started.Describe("dnsmasq"));
        PostfixResolvConf = Path.Combine(dir, "resolv.conf");
        File.WriteAllText(PostfixResolvConf, $"nameserver {address}\noptions timeout:2 attempts:1\n");
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (dir.Length == 0) return;
        if (File.Exists(PidFile) && int.TryParse(File.ReadAllText(PidFile).Trim(), out var pid))
        {
            Posix.Kill(pid, 15); // by its own pid file: never by name
            for (var i = 0; i < 50 && Posix.IsAlive(pid); i++) await Task.Delay(100);
        }
        Directory.Delete(dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class DnsblStackCollection : ICollectionFixture<DnsblStackFixture>
{
    public const string Name = "dnsbl stack";
}

/// <summary>Like <see cref="MailStackFactAttribute"/>, and dnsmasq, unshare and mount are needed too.</summary>
public sealed class DnsblFactAttribute : FactAttribute
{
    public DnsblFactAttribute()
    {
        if (DnsblStackFixture.MissingTools() is { } missing && !MailStackFixture.InCi) Skip = $"DNSBL stack not available: {missing}";
    }
}

/// <summary>dnsbl_enabled / dnsbl_zones on real mail: Postfix's reject_rbl_client, the whitelist first.</summary>
[Collection(DnsblStackCollection.Name)]
public sealed class DnsblTests(DnsblStackFixture stack)
{
    TestServer S => stack.Server;

    static string Reject(string client, string zone) =>
        $@"<\*\* 554 5\.7\.1 Service unavailable; Client host \[{Regex(client)}\] blocked using {Regex(zone)}";

    static string Regex(string text) => System.Text.RegularExpressions.Regex.Escape(text);

    async Task<RunResult> Rcpt(string client, string from = "stranger@else.test", string to = "dora@dnsbl.test") =>
        await stack.Swaks(to, from: from, source: client, quitAfterRcpt: true);

    async Task Accepted(string client, string from = "stranger@else.test")
    {
        var r = await Rcpt(client, from);
        Assert.True(r.Ok, $"{client} from {from}:\n{r.Stdout}");
    }

    async Task Whitelist(string type, string value) =>
        (await S.Post("/api/v1/antispam/whitelist", $$"""{"entry_type":"{{type}}","value":"{{value}}"}""")).AssertStatus(HttpStatusCode.OK);

    async Task SetDnsbl(bool enabled, string zones)
    {
        var antispam = (await S.Get("/api/v1/config/antispam")).Json.AsObject();
        antispam["dnsbl_enabled"] = enabled;
        antispam["dnsbl_zones"] = zones;
        (await S.Put("/api/v1/config/antispam", antispam.ToJsonString())).AssertStatus(HttpStatusCode.OK);
    }

    [DnsblFact]
    public async Task AListedClientIsRejectedAndTheWhitelistSkipsOnlyTheZones()
    {
        var d = await S.CreateDomain("dnsbl.test");
        await S.CreateMailbox(d, "dora", "Dora-pass-1");
        var full = await S.CreateMailbox(d, "full", "Full-pass-1");
        await Whitelist("ip", "127.0.2.79");
        await Whitelist("cidr", "127.0.2.84/30");
        await Whitelist("domain", "friends.test");
        await Whitelist("email", "Pal@mates.test");
        await stack.Reconcile();

        // DNSBL off: a listed client is accepted (nothing asks the zones).
        await Accepted("127.0.2.77");

        var reloads = stack.Stack.PostfixReloads;
        await SetDnsbl(true, $"{DnsblStackFixture.ZoneA}  {DnsblStackFixture.ZoneB.ToUpperInvariant()}");
        await stack.Reconcile(); // after the background apply the PUT started, if it has not run yet
        Assert.True(stack.Stack.PostfixReloads > reloads, "main.cf and the cidr table changed: postfix reloads");

        // Listed in the first zone, in the second, and a whitelist that names someone else: 554 at RCPT.
        var r = await Rcpt("127.0.2.77");
        Assert.Matches(Reject("127.0.2.77", DnsblStackFixture.ZoneA), r.Stdout);
        Assert.Matches(Reject("127.0.2.78", DnsblStackFixture.ZoneB), (await Rcpt("127.0.2.78")).Stdout);
        Assert.Matches(Reject("127.0.2.81", DnsblStackFixture.ZoneA), (await Rcpt("127.0.2.81", from: "x@notfriends.test")).Stdout);
        Assert.Matches(Reject("127.0.2.82", DnsblStackFixture.ZoneA), (await Rcpt("127.0.2.82", from: "other@mates.test")).Stdout);
        Assert.Contains("query[A] 77.2.0.127.bl.dnsbl.test", File.ReadAllText(stack.QueryLog), StringComparison.Ordinal);

        // Not listed, or only Spamhaus's error answer 127.255.255.254: accepted.
        await Accepted("127.0.2.91");
        await Accepted("127.0.2.90");

        // Whitelisted client (ip, cidr), sender domain and its subdomains, sender address; and
        // relay_networks (127.0.0.1 is listed too): accepted, and delivered.
        var sent = await stack.Swaks("dora@dnsbl.test", from: "stranger@else.test", subject: "whitelisted ip", source: "127.0.2.79");
        Assert.True(sent.Ok, sent.Stdout);
        await stack.WaitForSubject("dora@dnsbl.test", "Dora-pass-1", "whitelisted ip");
        await Accepted("127.0.2.85");
        await Accepted("127.0.2.81", from: "bob@friends.test");
        await Accepted("127.0.2.81", from: "bob@lists.friends.test");
        await Accepted("127.0.2.82", from: "pal@mates.test");
        var own = await stack.Swaks("dora@dnsbl.test", from: "web@panel.test", subject: "from relay_networks");
        Assert.True(own.Ok, own.Stdout);
        await stack.WaitForSubject("dora@dnsbl.test", "Dora-pass-1", "from relay_networks");

        // The whitelist's permit never opens the relay: a remote recipient is still refused.
        var relay = await Rcpt("127.0.2.79", to: "someone@elsewhere.test");
        Assert.False(relay.Ok, relay.Stdout);
        Assert.Contains("Relay access denied", relay.Stdout, StringComparison.Ordinal);

        // ...and the checks after the DNSBL still run for it: an over-quota mailbox refuses at RCPT.
        var filler = await stack.Swaks("full@dnsbl.test", subject: "filler", bodyFile: stack.BodyFile(4000));
        Assert.True(filler.Ok, filler.Stdout);
        await stack.WaitForSubject("full@dnsbl.test", "Full-pass-1", "filler");
        (await S.Patch($"/api/v1/mailboxes/{full}", """{"quota":1024}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        var overQuota = await Rcpt("127.0.2.79", to: "full@dnsbl.test");
        Assert.True(overQuota.Stdout.Contains("<** 552 5.2.2", StringComparison.Ordinal), overQuota.Stdout);

        // A whitelist entry removed: the cidr table changes, Postfix reloads, the client is judged again.
        var entries = (await S.Get("/api/v1/antispam/whitelist")).Json["data"]!.AsArray();
        var ip = entries.Single(e => e!["value"]!.GetValue<string>() == "127.0.2.79")!["id"]!.GetValue<long>();
        reloads = stack.Stack.PostfixReloads;
        (await S.Delete($"/api/v1/antispam/whitelist/{ip}")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.True(stack.Stack.PostfixReloads > reloads, "the cidr table changed: postfix reloads");
        await stack.WaitUntil(async () => (await Rcpt("127.0.2.79")).Stdout.Contains("<** 554 5.7.1", StringComparison.Ordinal),
            "127.0.2.79 refused once its whitelist entry is gone", logs: "127.0.2.79");
        Assert.Matches(Reject("127.0.2.79", DnsblStackFixture.ZoneA), (await Rcpt("127.0.2.79")).Stdout);

        // DNSBL off again: the listed client is accepted.
        await SetDnsbl(false, DnsblStackFixture.ZoneA);
        await stack.Reconcile();
        await Accepted("127.0.2.77");
    }
}
