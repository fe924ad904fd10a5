using System.Net;
using System.Text.RegularExpressions;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// The Sieve unit on real mail: vacation_enabled + vacation_message (one reply per sender per
/// period, delivered to a loopback sink exactly as written) and auto_junk_threshold (Junk above it).
/// </summary>
[Collection(MailStackCollection.Name)]
public sealed partial class SieveTests(MailStackFixture stack) : IAsyncLifetime
{
    TestServer S => stack.Server;
    readonly SmtpSink sink = new();
    const string SinkDomain = "vacsink.test";

    public Task InitializeAsync()
    {
        sink.Start();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        sink.Dispose();
        if (stack.Server is not null) stack.Stack.TestTransport = [];
        return Task.CompletedTask;
    }

    string VacationScript(string address) => Path.Combine(S.Config.SysRoot, "etc/dovecot/sieve/vacation", address + ".sieve");

    async Task<bool> InFolder(string user, string password, string folder, string subject)
    {
        var r = await stack.Imap(user, password, $"SEARCH HEADER SUBJECT \"{subject}\"", path: folder);
        return r.ExitCode == 0 && SearchHit().IsMatch(r.Stdout);
    }

    /// <summary>RFC 2045 quoted-printable body to text (UTF-8): soft breaks joined, =XX decoded.</summary>
    static string QuotedPrintable(string body)
    {
        var bytes = new List<byte>();
        var raw = System.Text.Encoding.Latin1.GetBytes(body.Replace("=\r\n", "", StringComparison.Ordinal));
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '=' && i + 2 < raw.Length)
            {
                bytes.Add(Convert.ToByte(System.Text.Encoding.ASCII.GetString(raw, i + 1, 2), 16));
                i += 2;
            }
            else bytes.Add(raw[i]);
        }
        return System.Text.Encoding.UTF8.GetString([.. bytes]);
    }

    [GeneratedRegex(@"\* SEARCH \d")]
    private static partial Regex SearchHit();

    [MailStackFact]
    public async Task VacationRepliesOncePerSenderWithTheMessageAsWritten()
    {
        var d = await S.CreateDomain("vac.test");
        var vera = await S.CreateMailbox(d, "vera", "Vera-pass-1");
        (await S.Post("/api/v1/aliases", """{"source":"office@vac.test","destination":"vera@vac.test"}""")).AssertStatus(HttpStatusCode.Created);
        // Sieve metacharacters, a variable-looking ${...}, line breaks and non-ASCII text: all delivered as written.
        const string message = "Back on \"Monday\" \\ not before.\n${name} is not a variable here; 50% off ;-)\nGrüße, 日本語 — Vera";
        var body = System.Text.Json.Nodes.JsonValue.Create(message).ToJsonString();
        (await S.Put($"/api/v1/mailboxes/{vera}/overrides", $$"""{"vacation_enabled":true,"vacation_message":{{body}}}""")).AssertStatus(HttpStatusCode.OK);
        stack.Stack.TestTransport = [$"{SinkDomain} smtp:[127.0.0.1]:{sink.Port}"];
        await stack.Reconcile();
        var script = VacationScript("vera@vac.test");
        Assert.True(File.Exists(script), stack.LastReconcile);
        Assert.True(File.Exists(Path.ChangeExtension(script, ".svbin")), "sievec compiled the script: " + stack.LastReconcile);

        async Task Send(string from, string subject, string to = "vera@vac.test")
        {
            var sent = await stack.Swaks(to, from: from, subject: subject, source: stack.FreshSource());
            Assert.True(sent.Ok, sent.Stdout);
            await stack.WaitForSubject("vera@vac.test", "Vera-pass-1", subject);
        }
        List<string> RepliesTo(string sender) => sink.Containing("\r\nTo: " + sender + "\r\n").Concat(sink.Containing("\r\nTo: <" + sender + ">\r\n")).ToList();

        await Send($"ann@{SinkDomain}", "vac-1");
        await stack.WaitUntil(() => Task.FromResult(RepliesTo($"ann@{SinkDomain}").Count > 0), "the vacation reply to ann", logs: SinkDomain);
        var reply = RepliesTo($"ann@{SinkDomain}").Single();
        Assert.Contains("Auto-Submitted: auto-replied", reply, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("From: vera@vac.test", reply, StringComparison.Ordinal);
        Assert.Contains("Subject: Auto: vac-1", reply, StringComparison.Ordinal);
        Assert.Contains("Content-Type: text/plain; charset=utf-8", reply, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Content-Transfer-Encoding: quoted-printable", reply, StringComparison.OrdinalIgnoreCase);
        var text = QuotedPrintable(reply[(reply.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
        Assert.True(text.TrimEnd() == message.Replace("\n", "\r\n", StringComparison.Ordinal), text);

        // The same sender again (also through the alias): no second reply within the period.
        await Send($"ann@{SinkDomain}", "vac-2");
        await Send($"ann@{SinkDomain}", "vac-3", to: "office@vac.test");
        // Another sender gets one; by the time it is there, the queue has carried ann's too, had there been any.
        await Send($"bob@{SinkDomain}", "vac-4", to: "office@vac.test");
        await stack.WaitUntil(() => Task.FromResult(RepliesTo($"bob@{SinkDomain}").Count > 0), "the vacation reply to bob (via the alias)", logs: SinkDomain);
        await Task.Delay(1500);
        Assert.Single(RepliesTo($"ann@{SinkDomain}"));
        Assert.Single(RepliesTo($"bob@{SinkDomain}"));

        // Vacation off: the script (and its compiled copy) goes, and nobody gets a reply.
        (await S.Put($"/api/v1/mailboxes/{vera}/overrides", "{}")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.False(File.Exists(script), stack.LastReconcile);
        Assert.False(File.Exists(Path.ChangeExtension(script, ".svbin")));
        await Send($"cy@{SinkDomain}", "vac-5");
        await Send($"bob@{SinkDomain}", "vac-6"); // a marker behind cy's message in the same queue
        await Task.Delay(1500);
        Assert.Empty(RepliesTo($"cy@{SinkDomain}"));
    }

    [MailStackFact]
    public async Task AScriptThatDoesNotCompileFailsTheReconcileAndThePreviousOneStays()
    {
        var d = await S.CreateDomain("sievefail.test");
        await S.CreateMailbox(d, "sal", "Sal-pass-1");
        await stack.Reconcile();
        var script = Path.Combine(S.Config.SysRoot, "etc/dovecot/sieve/mailpanel.sieve");
        var before = await File.ReadAllBytesAsync(script);
        stack.Stack.TestSieveExtra = "\nfileinto \"Junk\"\n"; // a command without its semicolon: sievec refuses the script
        try
        {
            var r = await S.Post("/api/v1/system/reconcile");
            Assert.Equal(HttpStatusCode.InternalServerError, r.Status);
            Assert.Contains("sieve check", r.Json["error"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains("sievec", r.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains(r.Json["log"]!.AsArray(), l => l!.GetValue<string>().StartsWith("restored mailpanel.sieve", StringComparison.Ordinal));
        }
        finally
        {
            stack.Stack.TestSieveExtra = null;
        }
        Assert.Equal(before, await File.ReadAllBytesAsync(script));
        // Mail still flows through the previous script.
        var sent = await stack.Swaks("sal@sievefail.test", subject: "after-bad-sieve", source: stack.FreshSource());
        Assert.True(sent.Ok, sent.Stdout);
        await stack.WaitForSubject("sal@sievefail.test", "Sal-pass-1", "after-bad-sieve");
        Assert.Contains("no changes", (await stack.Reconcile()).Json["log"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [MailStackFact]
    public async Task MailScoredAboveTheAutoJunkThresholdLandsInJunk()
    {
        var d = await S.CreateDomain("junk.test");
        var jay = await S.CreateMailbox(d, "jay", "Jay-pass-1");
        await stack.Reconcile();

        // Submitted by jay to himself: the spam filter judges only inbound mail, so the score header
        // written here is what Sieve reads (the filter replaces any it finds on inbound mail).
        async Task Send(string subject, string score)
        {
            var sent = await stack.Swaks("jay@junk.test", from: "jay@junk.test", subject: subject, submission: true,
                authUser: "jay@junk.test", authPassword: "Jay-pass-1", headers: [$"X-Spam-Score: {score}"]);
            Assert.True(sent.Ok, sent.Stdout);
        }
        async Task Lands(string subject, string folder) =>
            await stack.WaitUntil(() => InFolder("jay@junk.test", "Jay-pass-1", folder, subject), $"'{subject}' in {folder}", logs: "junk.test");

        // The defaults' threshold (7.0): above it -> Junk; at or below it, or negative -> INBOX.
        await Send("junk-8.3", "8.3");
        await Send("inbox-7.0", "7.0");
        await Send("inbox-neg", "-12.5");
        await Lands("junk-8.3", "Junk");
        await Lands("inbox-7.0", "INBOX");
        await Lands("inbox-neg", "INBOX");
        Assert.False(await InFolder("jay@junk.test", "Jay-pass-1", "INBOX", "junk-8.3"));

        // A mailbox override (9.5) travels in the users dict: 8.3 now stays in INBOX, 9.6 is junk.
        (await S.Put($"/api/v1/mailboxes/{jay}/overrides", """{"auto_junk_threshold":9.5}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.Contains("\"sieve_env_mailpanel_junk\":\"95\"", File.ReadAllText(Path.Combine(S.Config.SysRoot, "etc/dovecot/users.dict")), StringComparison.Ordinal);
        await Send("inbox-8.3", "8.3");
        await Send("junk-9.6", "9.6");
        await Lands("inbox-8.3", "INBOX");
        await Lands("junk-9.6", "Junk");
    }
}
