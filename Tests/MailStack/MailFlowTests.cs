using System.Net;

namespace MailPanel.Tests.MailStack;

/// <summary>Scenarios 1-5 and 7 of issue 3: real mail through the real Postfix + Dovecot, driven through the HTTP API only.</summary>
[Collection(MailStackCollection.Name)]
public class MailFlowTests(MailStackFixture stack)
{
    TestServer S => stack.Server;

    [MailStackFact]
    public async Task MailToMailboxAndAliasLandsInMaildirAndReadsBackOverImap()
    {
        var d = await S.CreateDomain("flow.test");
        await S.CreateMailbox(d, "alice", "Alice-pass-1");
        var alias = await S.Post("/api/v1/aliases", """{"source":"info@flow.test","destination":"alice@flow.test"}""");
        alias.AssertStatus(HttpStatusCode.Created);
        await stack.Reconcile();

        var direct = await stack.Swaks("alice@flow.test", subject: "direct-one");
        Assert.True(direct.Ok, direct.Stdout + direct.Stderr);
        var viaAlias = await stack.Swaks("info@flow.test", subject: "via-alias");
        Assert.True(viaAlias.Ok, viaAlias.Stdout + viaAlias.Stderr);

        await stack.WaitForSubject("alice@flow.test", "Alice-pass-1", "direct-one");
        await stack.WaitForSubject("alice@flow.test", "Alice-pass-1", "via-alias");
        Assert.Equal(2, stack.InboxCount("flow.test", "alice"));
        var owner = Posix.LookupUser("vmail")!.Value;
        var files = Directory.GetFiles(Path.Combine(stack.VmailDir, "flow.test", "alice", "Maildir", "new"));
        Assert.All(files, f => Assert.Equal((int)owner.Uid, GetOwner(f)));
    }

    static int GetOwner(string path) =>
        int.Parse(MailPanel.Sys.Run.Exec("stat", ["-c", "%u", path]).GetAwaiter().GetResult().Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [MailStackFact]
    public async Task PasswordChangedTwiceWithinOneSecondOnlyTheLastLogsIn()
    {
        var d = await S.CreateDomain("pw.test");
        var id = await S.CreateMailbox(d, "bob", "First-pass-1");
        await stack.Reconcile();
        Assert.Equal(0, (await stack.Imap("bob@pw.test", "First-pass-1")).ExitCode);

        // Two bcrypt hashes take well under a second, except on a loaded machine: try again until a pair does.
        var within = false;
        for (var attempt = 0; attempt < 5 && !within; attempt++)
        {
            var started = DateTime.UtcNow;
            (await S.Patch($"/api/v1/mailboxes/{id}/password", """{"password":"Second-pass-2"}""")).AssertStatus(HttpStatusCode.OK);
            (await S.Patch($"/api/v1/mailboxes/{id}/password", """{"password":"Third-pass-3"}""")).AssertStatus(HttpStatusCode.OK);
            within = DateTime.UtcNow - started < TimeSpan.FromSeconds(1);
        }
        Assert.True(within, "the two changes should fall within one second");
        await stack.Reconcile();

        Assert.Equal(0, (await stack.Imap("bob@pw.test", "Third-pass-3")).ExitCode);
        Assert.Equal(67, (await stack.Imap("bob@pw.test", "Second-pass-2", source: stack.FreshSource())).ExitCode);
        Assert.Equal(67, (await stack.Imap("bob@pw.test", "First-pass-1", source: stack.FreshSource())).ExitCode);
    }

    [MailStackFact]
    public async Task Pop3FollowsTheEnabledPop3Override()
    {
        var d = await S.CreateDomain("pop.test");
        var id = await S.CreateMailbox(d, "carol", "Carol-pass-1");
        (await S.Put($"/api/v1/mailboxes/{id}/overrides", """{"enabled_pop3":true}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        var on = await stack.Pop3("carol@pop.test", "Carol-pass-1");
        Assert.True(on.ExitCode == 0, on.Describe("curl pop3"));

        (await S.Put($"/api/v1/mailboxes/{id}/overrides", """{"enabled_pop3":false}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.Equal(67, (await stack.Pop3("carol@pop.test", "Carol-pass-1", stack.FreshSource())).ExitCode);
        Assert.Equal(0, (await stack.Imap("carol@pop.test", "Carol-pass-1")).ExitCode); // IMAP unaffected
    }

    [MailStackFact]
    public async Task InactiveMailboxCannotLogInAndReceivesNothing()
    {
        var d = await S.CreateDomain("inactive.test");
        var id = await S.CreateMailbox(d, "dave", "Dave-pass-1");
        await stack.Reconcile();
        Assert.Equal(0, (await stack.Imap("dave@inactive.test", "Dave-pass-1")).ExitCode);

        (await S.Patch($"/api/v1/mailboxes/{id}", """{"active":false}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.Equal(67, (await stack.Imap("dave@inactive.test", "Dave-pass-1", source: stack.FreshSource())).ExitCode);
        // From outside relay_networks, as the internet sees it (mynetworks may relay anything).
        var rcpt = await stack.Swaks("dave@inactive.test", source: "127.0.0.5", quitAfterRcpt: true);
        Assert.True(rcpt.Stdout.Contains("<** 550 5.1.1", StringComparison.Ordinal), rcpt.Stdout);
    }

    [MailStackFact]
    public async Task DeletedDomainIsRefusedAtRcptAndItsMaildirIsGone()
    {
        var d = await S.CreateDomain("gone.test");
        await S.CreateMailbox(d, "erin", "Erin-pass-1");
        await stack.Reconcile();
        var before = await stack.Swaks("erin@gone.test", source: "127.0.0.5", quitAfterRcpt: true);
        Assert.True(before.Ok, before.Stdout);

        (await S.Delete($"/api/v1/domains/{d}")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        // 127.0.0.5 is outside relay_networks: an unhosted domain is a relay attempt.
        var after = await stack.Swaks("erin@gone.test", source: "127.0.0.5", quitAfterRcpt: true);
        Assert.Matches(@"<\*\* 5\d\d ", after.Stdout);
        Assert.False(Directory.Exists(Path.Combine(stack.VmailDir, "gone.test")));
        Assert.Equal(67, (await stack.Imap("erin@gone.test", "Erin-pass-1", source: stack.FreshSource())).ExitCode);
    }

    [MailStackFact]
    public async Task OverQuotaMailboxRefusesMailAndOversizedMessagesGet552()
    {
        var d = await S.CreateDomain("quota.test");
        var id = await S.CreateMailbox(d, "frank", "Frank-pass-1");
        await stack.Reconcile();
        var fill = await stack.Swaks("frank@quota.test", subject: "filler", bodyFile: stack.BodyFile(4000));
        Assert.True(fill.Ok, fill.Stdout);
        await stack.WaitForSubject("frank@quota.test", "Frank-pass-1", "filler");

        (await S.Patch($"/api/v1/mailboxes/{id}", """{"quota":1024}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        var refused = await stack.Swaks("frank@quota.test", subject: "no-room", source: "127.0.0.5", quitAfterRcpt: true);
        Assert.True(refused.Stdout.Contains("<** 552 5.2.2", StringComparison.Ordinal), refused.Stdout);
        Assert.Equal(1, stack.InboxCount("quota.test", "frank"));

        // message_size_limit is 1 MiB (fixture): a 1.3 MB message is refused at SMTP time.
        var big = await stack.Swaks("frank@quota.test", subject: "too-big", bodyFile: stack.BodyFile(1_300_000));
        Assert.True(big.Stdout.Contains("<** 552", StringComparison.Ordinal), big.Stdout[^Math.Min(2000, big.Stdout.Length)..]);
    }

    [MailStackFact]
    public async Task SubmissionWithSaslDeliversToAnotherMailboxAndAWrongPasswordGets535()
    {
        var d = await S.CreateDomain("submit.test");
        await S.CreateMailbox(d, "gina", "Gina-pass-1");
        await S.CreateMailbox(d, "hank", "Hank-pass-1");
        await stack.Reconcile();

        var sent = await stack.Swaks("hank@submit.test", from: "gina@submit.test", subject: "submitted", submission: true,
            authUser: "gina@submit.test", authPassword: "Gina-pass-1");
        Assert.True(sent.Ok, sent.Stdout);
        Assert.Contains("235 2.7.0", sent.Stdout, StringComparison.Ordinal);
        await stack.WaitForSubject("hank@submit.test", "Hank-pass-1", "submitted");

        var wrong = await stack.Swaks("hank@submit.test", from: "gina@submit.test", submission: true,
            authUser: "gina@submit.test", authPassword: "not-the-password", source: stack.FreshSource());
        Assert.Contains("535 5.7.8", wrong.Stdout, StringComparison.Ordinal);
    }

    [MailStackFact]
    public async Task BrokenRenderAnswers500WithTheStepAndTheLiveConfigKeepsWorking()
    {
        var d = await S.CreateDomain("broken.test");
        await S.CreateMailbox(d, "ivan", "Ivan-pass-1");
        await stack.Reconcile();
        var mainCf = Path.Combine(stack.PostfixDir, "main.cf");
        var before = await File.ReadAllBytesAsync(mainCf);
        var reloads = stack.Stack.PostfixReloads;

        stack.Stack.TestMainCfExtra = "this line is not a parameter";
        try
        {
            var r = await S.Post("/api/v1/system/reconcile");
            Assert.Equal(HttpStatusCode.InternalServerError, r.Status);
            Assert.Equal("INTERNAL_ERROR", r.Json["code"]!.GetValue<string>());
            Assert.Contains("postfix check", r.Json["error"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains(r.Json["log"]!.AsArray(), l => l!.GetValue<string>().StartsWith("restored main.cf", StringComparison.Ordinal));
        }
        finally
        {
            stack.Stack.TestMainCfExtra = null;
        }
        Assert.Equal(before, await File.ReadAllBytesAsync(mainCf));
        Assert.Equal(reloads, stack.Stack.PostfixReloads);

        var sent = await stack.Swaks("ivan@broken.test", subject: "still-flowing");
        Assert.True(sent.Ok, sent.Stdout);
        await stack.WaitForSubject("ivan@broken.test", "Ivan-pass-1", "still-flowing");
        var log = (await stack.Reconcile()).Json["log"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains("no changes", log);
    }

    [MailStackFact]
    public async Task MapOnlyChangesDoNotReloadPostfix()
    {
        // A new domain reloads (trivial-rewrite caches the domain list); mailboxes and aliases must not.
        var d = await S.CreateDomain("noreload.test");
        await stack.Reconcile();
        var reloads = stack.Stack.PostfixReloads;
        await S.CreateMailbox(d, "jill", "Jill-pass-1");
        (await S.Post("/api/v1/aliases", """{"source":"team@noreload.test","destination":"jill@noreload.test"}""")).AssertStatus(HttpStatusCode.Created);
        var log = (await stack.Reconcile()).Json["log"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(reloads, stack.Stack.PostfixReloads);
        Assert.Contains(log, l => l.Contains("postfix reloads since start:", StringComparison.Ordinal));
        var sent = await stack.Swaks("team@noreload.test", subject: "no-reload");
        Assert.True(sent.Ok, sent.Stdout);
        await stack.WaitForSubject("jill@noreload.test", "Jill-pass-1", "no-reload");
    }

    [MailStackFact]
    public async Task WhileDovecotIsDownInboundMailIsQueuedAndDeliveredWhenItIsBack()
    {
        var d = await S.CreateDomain("dovecot-down.test");
        await S.CreateMailbox(d, "june", "June-pass-1");
        await stack.Reconcile();
        await stack.StopDovecot();
        try
        {
            // quota-status (a Dovecot service) does not answer: the RCPT is still accepted, not 451.
            var sent = await stack.Swaks("june@dovecot-down.test", subject: "queued while down", source: stack.FreshSource());
            Assert.True(sent.Ok, sent.Stdout);
            Assert.Contains("250 2.0.0 Ok: queued", sent.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            await stack.StartDovecot();
        }
        await stack.FlushQueue();
        await stack.WaitForSubject("june@dovecot-down.test", "June-pass-1", "queued while down");
    }
}
