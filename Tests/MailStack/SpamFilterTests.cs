using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// The content filter on real mail: Postfix passes inbound SMTP to the daemon's milter, which asks a
/// real spamd (the fixture's, reached through spam_remote_host/port, so the remote wiring is what is
/// proven) and a real clamd (the Debian socket path under SYSROOT, loaded with one test signature),
/// and acts per recipient: reject, tag, quarantine.
/// </summary>
[Collection(MailStackCollection.Name)]
public sealed partial class SpamFilterTests(MailStackFixture stack)
{
    TestServer S => stack.Server;

    /// <summary>SpamAssassin's Generic Test for Unsolicited Bulk Email (20_body_tests.cf): scores 1000.</summary>
    const string Gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    [GeneratedRegex(@"^X-Spam-Score: ([0-9]+)\.([0-9])$", RegexOptions.Multiline)]
    private static partial Regex ScoreHeader();

    /// <summary>The delivered message with this subject in the INBOX (or, with <paramref name="folder"/> "Junk", in Junk).</summary>
    string Delivered(string domain, string user, string subject, string? folder = null)
    {
        var maildir = Path.Combine(stack.VmailDir, domain, user, "Maildir", folder is null ? "" : "." + folder);
        return new[] { "new", "cur" }.Select(d => Path.Combine(maildir, d)).Where(Directory.Exists)
            .SelectMany(Directory.GetFiles).Select(File.ReadAllText).Single(m => m.Contains($"Subject: {subject}", StringComparison.Ordinal));
    }

    /// <summary>A message with this subject sits in spam.test's user's Junk folder (Maildir++ .Junk).</summary>
    bool InJunk(string user, string subject)
    {
        var junk = Path.Combine(stack.VmailDir, "spam.test", user, "Maildir", ".Junk");
        return new[] { "new", "cur" }.Select(d => Path.Combine(junk, d)).Where(Directory.Exists).SelectMany(Directory.GetFiles)
            .Any(f => File.ReadAllText(f).Contains($"Subject: {subject}", StringComparison.Ordinal));
    }

    static string Head(string message)
    {
        var text = message.Replace("\r\n", "\n", StringComparison.Ordinal);
        return text[..text.IndexOf("\n\n", StringComparison.Ordinal)];
    }

    string BodyWith(string text)
    {
        var path = Path.Combine(S.Dir, $"body-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, $"Hello,\n{text}\nBye.\n");
        return path;
    }

    /// <summary>swaks from an outside address and source (not relay_networks, not authenticated), with extra headers.</summary>
    async Task<MailPanel.Sys.RunResult> Send(string to, string subject, string body, params string[] headers)
    {
        List<string> args = ["--server", $"127.0.0.1:{stack.SmtpPort}", "--to", to, "--from", "spammer@outside.example", "--helo", "client.example",
            "--timeout", "60", "--local-interface", stack.FreshSource(), "--header", $"Subject: {subject}", "--body", BodyWith(body)];
        foreach (var h in headers) args.AddRange(["--add-header", h]);
        return await MailPanel.Sys.Run.Exec("swaks", args, TimeSpan.FromSeconds(90));
    }

    async Task PointAtTestSpamd(int port)
    {
        var global = (await S.Get("/api/v1/config/global")).Json.AsObject();
        global["spam_remote_host"] = "127.0.0.1";
        global["spam_remote_port"] = port;
        (await S.Put("/api/v1/config/global", global.ToJsonString())).AssertStatus(HttpStatusCode.OK);
    }

    async Task LocalSpamd()
    {
        var global = (await S.Get("/api/v1/config/global")).Json.AsObject();
        global["spam_remote_host"] = "";
        global["spam_remote_port"] = 783;
        (await S.Put("/api/v1/config/global", global.ToJsonString())).AssertStatus(HttpStatusCode.OK);
    }

    async Task WaitForSpamd() =>
        await stack.WaitUntil(async () => (await S.Get("/api/v1/antispam/scanners")).Json["spamd"]!["status"]!.GetValue<string>() == "ok",
            "spamd to answer PING", timeoutMs: 60000);

    async Task<JsonArray> Quarantine() => (await S.Get("/api/v1/quarantine?limit=500")).Json["data"]!.AsArray();

    async Task<JsonNode> QuarantinedFor(string recipient) =>
        (await Quarantine()).Single(e => e!["recipients"]!.AsArray().Any(r => r!.GetValue<string>() == recipient))!;

    [MailStackFact]
    public async Task GtubeIsRejectedTaggedOrQuarantinedPerRecipientAndAReleasedMessageReachesTheInbox()
    {
        Assert.True(MailStackFixture.HasSpamd, "spamd is not installed (.ci/run installs it)");
        var d = await S.CreateDomain("spam.test");
        var rita = await S.CreateMailbox(d, "rita", "Rita-pass-1");
        await S.CreateMailbox(d, "tom", "Tom-pass-1");
        var quinn = await S.CreateMailbox(d, "quinn", "Quinn-pass-1");
        (await S.Put($"/api/v1/mailboxes/{rita}/overrides", """{"spam_action":"reject"}""")).AssertStatus(HttpStatusCode.OK);
        (await S.Put($"/api/v1/mailboxes/{quinn}/overrides", """{"spam_action":"quarantine"}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.Contains("unix:" + Path.Combine(stack.Server.Config.SysRoot, "var/spool/postfix/private/mailpanel-milter"),
            File.ReadAllText(Path.Combine(stack.PostfixDir, "main.cf")), StringComparison.Ordinal);
        await PointAtTestSpamd(stack.SpamdPort);
        try
        {
            await WaitForSpamd();

            // reject: the SMTP client gets the 5xx at end of DATA.
            var rejected = await Send("rita@spam.test", "gtube reject", Gtube);
            Assert.False(rejected.Ok, rejected.Stdout);
            Assert.Matches(@"<\*\* 550 5\.7\.1 Message rejected as spam \(score 10\d\d\.\d, required 5\.0\)", rejected.Stdout);

            // tag: delivered, with the verdict headers; forged ones from the sender are gone. Its score is
            // above tom's auto_junk_threshold (the defaults' 7.0), so Sieve files it into Junk, not the INBOX.
            var tagged = await Send("tom@spam.test", "gtube tag", Gtube, "X-Spam-Flag: NO", "X-Spam-Score: 0.1");
            Assert.True(tagged.Ok, tagged.Stdout);
            await stack.WaitUntil(() => Task.FromResult(InJunk("tom", "gtube tag")), "'gtube tag' in tom's Junk", logs: "spam.test");
            Assert.Equal(0, stack.InboxCount("spam.test", "tom"));
            var head = Head(Delivered("spam.test", "tom", "gtube tag", "Junk"));
            var score = Assert.Single(ScoreHeader().Matches(head));
            Assert.True(int.Parse(score.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 1000, head);
            Assert.Single(Regex.Matches(head, "^X-Spam-Flag: YES$", RegexOptions.Multiline));
            Assert.DoesNotContain("X-Spam-Flag: NO", head, StringComparison.Ordinal);
            Assert.DoesNotContain("X-Spam-Score: 0.1", head, StringComparison.Ordinal);
            Assert.Matches(@"X-Spam-Status: Yes, score=10\d\d\.\d required=5\.0 tests=.*GTUBE", head);

            // A clean message is delivered with its score and no flag.
            var clean = await Send("tom@spam.test", "plain hello", "just a note about lunch");
            Assert.True(clean.Ok, clean.Stdout);
            await stack.WaitForSubject("tom@spam.test", "Tom-pass-1", "plain hello");
            var cleanHead = Head(Delivered("spam.test", "tom", "plain hello"));
            Assert.Single(ScoreHeader().Matches(cleanHead));
            Assert.DoesNotContain("X-Spam-Flag", cleanHead, StringComparison.Ordinal);
            Assert.Contains("X-Spam-Status: No, score=", cleanHead, StringComparison.Ordinal);

            // quarantine: accepted (250), not in the INBOX, listed; read shows the message; release delivers it.
            var held = await Send("quinn@spam.test", "gtube quarantine", Gtube);
            Assert.True(held.Ok, held.Stdout);
            var entry = await QuarantinedFor("quinn@spam.test");
            Assert.Equal("spam", entry["reason"]!.GetValue<string>());
            Assert.Equal("gtube quarantine", entry["subject"]!.GetValue<string>());
            Assert.Equal("spammer@outside.example", entry["sender"]!.GetValue<string>());
            Assert.True(entry["score"]!.GetValue<double>() >= 1000);
            Assert.Equal(0, stack.InboxCount("spam.test", "quinn"));
            var id = entry["id"]!.GetValue<long>();
            var read = await S.Get($"/api/v1/quarantine/{id}");
            read.AssertStatus(HttpStatusCode.OK);
            Assert.Contains(Gtube, read.Json["raw"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(S.Config.DataDir, "quarantine", $"{id}.eml")));

            (await S.Post($"/api/v1/quarantine/{id}/release")).AssertStatus(HttpStatusCode.OK);
            await stack.WaitForSubject("quinn@spam.test", "Quinn-pass-1", "gtube quarantine");
            var released = Head(Delivered("spam.test", "quinn", "gtube quarantine"));
            Assert.DoesNotContain("X-Spam-", released, StringComparison.Ordinal); // the junk rule must not file it into Junk
            (await S.Get($"/api/v1/quarantine/{id}")).AssertStatus(HttpStatusCode.NotFound);
            Assert.False(File.Exists(Path.Combine(S.Config.DataDir, "quarantine", $"{id}.eml")));

            // Mixed: rita (reject) among tom (tag): one reply for all after DATA, so rita's copy is quarantined, tom's delivered.
            var mixed = await Send("rita@spam.test,tom@spam.test", "gtube mixed", Gtube);
            Assert.True(mixed.Ok, mixed.Stdout);
            await stack.WaitUntil(() => Task.FromResult(InJunk("tom", "gtube mixed")), "'gtube mixed' in tom's Junk", logs: "spam.test");
            var mixedEntry = await QuarantinedFor("rita@spam.test");
            Assert.Equal(["rita@spam.test"], mixedEntry["recipients"]!.AsArray().Select(r => r!.GetValue<string>()));
            Assert.Equal(0, stack.InboxCount("spam.test", "rita"));
            var mixedId = mixedEntry["id"]!.GetValue<long>();
            (await S.Delete($"/api/v1/quarantine/{mixedId}")).AssertStatus(HttpStatusCode.OK);
            (await S.Delete($"/api/v1/quarantine/{mixedId}")).AssertStatus(HttpStatusCode.NotFound);
            (await S.Post($"/api/v1/quarantine/{mixedId}/release")).AssertStatus(HttpStatusCode.NotFound);

        }
        finally
        {
            await LocalSpamd();
        }
    }

    [MailStackFact]
    public async Task WithSpamdUnreachableMailIsDeliveredMarkedUnchecked()
    {
        var d = await S.CreateDomain("nospamd.test");
        var una = await S.CreateMailbox(d, "una", "Una-pass-1");
        (await S.Put($"/api/v1/mailboxes/{una}/overrides", """{"spam_action":"reject","spam_threshold":0}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there now
        await PointAtTestSpamd(port);
        try
        {
            Assert.Equal("unavailable", (await S.Get("/api/v1/antispam/scanners")).Json["spamd"]!["status"]!.GetValue<string>());
            var sent = await Send("una@nospamd.test", "spamd down", Gtube, "X-Spam-Score: 0.0");
            Assert.True(sent.Ok, sent.Stdout);
            await stack.WaitForSubject("una@nospamd.test", "Una-pass-1", "spamd down");
            var head = Head(Delivered("nospamd.test", "una", "spamd down"));
            Assert.Matches(@"X-Spam-Status: Unchecked \(spamd at 127\.0\.0\.1:\d+: ", head);
            Assert.DoesNotContain("X-Spam-Score", head, StringComparison.Ordinal);
        }
        finally
        {
            await LocalSpamd();
        }
    }

    [MailStackFact]
    public async Task AVirusFoundByClamdIsQuarantinedOrRejectedByTheDomainsClamavAction()
    {
        Assert.True(MailStackFixture.HasClamd, "clamd is not installed (.ci/run installs clamav-daemon)");
        var d = await S.CreateDomain("virus.test");
        await S.CreateMailbox(d, "vic", "Vic-pass-1");
        await stack.Reconcile();
        await stack.WaitUntil(async () => (await S.Get("/api/v1/antispam/scanners")).Json["clamd"]!["status"]!.GetValue<string>() == "ok",
            "clamd to answer PING", timeoutMs: 60000);

        // clamav_action defaults to quarantine.
        var held = await Send("vic@virus.test", "virus held", MailStackFixture.VirusSignature);
        Assert.True(held.Ok, held.Stdout);
        var entry = await QuarantinedFor("vic@virus.test");
        Assert.Equal("virus", entry["reason"]!.GetValue<string>());
        Assert.StartsWith("MailPanel.Test.Virus", entry["virus"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, stack.InboxCount("virus.test", "vic"));

        (await S.Put($"/api/v1/domains/{d}/overrides", """{"clamav_action":"reject"}""")).AssertStatus(HttpStatusCode.OK);
        var rejected = await Send("vic@virus.test", "virus rejected", MailStackFixture.VirusSignature);
        Assert.False(rejected.Ok, rejected.Stdout);
        Assert.Matches(@"<\*\* 550 5\.7\.1 Message rejected: it contains a virus \(MailPanel\.Test\.Virus", rejected.Stdout);

        // A clean message is delivered with X-Virus-Status: Clean.
        var clean = await Send("vic@virus.test", "virus clean", "nothing to see");
        Assert.True(clean.Ok, clean.Stdout);
        await stack.WaitForSubject("vic@virus.test", "Vic-pass-1", "virus clean");
        Assert.Contains("X-Virus-Status: Clean", Head(Delivered("virus.test", "vic", "virus clean")), StringComparison.Ordinal);
        (await S.Delete($"/api/v1/quarantine/{entry["id"]!.GetValue<long>()}")).AssertStatus(HttpStatusCode.OK);
    }
}
