using System.Net;
using MailPanel.Api;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// The policy service on real mail: Postfix asks MailPanel's unix socket at RCPT and end of data,
/// and the answers come from the effective config (send caps, recipient caps, greylisting).
/// </summary>
[Collection(MailStackCollection.Name)]
public sealed class PolicyTests(MailStackFixture stack)
{
    TestServer S => stack.Server;

    [MailStackFact]
    public async Task RecipientAndDailySendCapsAreEnforcedOnSubmissionAndKeptAcrossRestarts()
    {
        var d = await S.CreateDomain("caps.test");
        var sam = await S.CreateMailbox(d, "sam", "Sam-pass-1");
        foreach (var name in new[] { "r1", "r2", "r3" }) await S.CreateMailbox(d, name, "Rcpt-pass-1");
        (await S.Put($"/api/v1/mailboxes/{sam}/overrides", """{"max_send_per_day":3,"max_recipients_per_message":2}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();

        // Three recipients: the third RCPT is refused, the message goes to the first two (1 sent today).
        var three = await stack.Swaks("r1@caps.test,r2@caps.test,r3@caps.test", from: "sam@caps.test", subject: "caps 1", submission: true,
            authUser: "sam@caps.test", authPassword: "Sam-pass-1");
        Assert.Matches(@"<\*\* 452 4\.5\.3 <r3@caps\.test>: .*Too many recipients: sam@caps\.test may send to at most 2 per message", three.Stdout);
        await stack.WaitForSubject("r2@caps.test", "Rcpt-pass-1", "caps 1");
        Assert.Equal(0, stack.InboxCount("caps.test", "r3"));

        for (var i = 2; i <= 3; i++)
        {
            var ok = await stack.Swaks("r1@caps.test", from: "sam@caps.test", subject: $"caps {i}", submission: true,
                authUser: "sam@caps.test", authPassword: "Sam-pass-1");
            Assert.True(ok.Ok, ok.Stdout);
        }
        var fourth = await stack.Swaks("r1@caps.test", from: "sam@caps.test", subject: "caps 4", submission: true,
            authUser: "sam@caps.test", authPassword: "Sam-pass-1");
        Assert.False(fourth.Ok, fourth.Stdout);
        Assert.Matches(@"<\*\* 550 5\.7\.1 <r1@caps\.test>: .*Daily sending limit reached: sam@caps\.test may send 3 messages per day \(UTC\)", fourth.Stdout);

        // The count lives in SQLite, not in the process: a fresh policy (a restarted daemon) still refuses.
        var fresh = new MailPanel.Rules.PolicyRules(S.Get<MailPanel.Store.Db>(), TimeProvider.System);
        var again = await fresh.Decide(new Dictionary<string, string>
        {
            ["protocol_state"] = "RCPT",
            ["sasl_username"] = "sam@caps.test",
            ["recipient"] = "r1@caps.test",
            ["instance"] = "a.b.c",
        });
        Assert.StartsWith("550 5.7.1 Daily sending limit reached", again, StringComparison.Ordinal);
    }

    async Task SetGreylisting(bool enabled, int delay)
    {
        var antispam = (await S.Get("/api/v1/config/antispam")).Json.AsObject();
        antispam["greylist_enabled"] = enabled;
        antispam["greylist_delay_seconds"] = delay;
        (await S.Put("/api/v1/config/antispam", antispam.ToJsonString())).AssertStatus(HttpStatusCode.OK);
    }

    [MailStackFact]
    public async Task GreylistingDefersANewTripletUntilTheDelayHasPassedExceptForTheWhitelist()
    {
        var d = await S.CreateDomain("grey.test");
        await S.CreateMailbox(d, "gus", "Gus-pass-1");
        (await S.Put($"/api/v1/domains/{d}/overrides", """{"greylisting_enabled":true}""")).AssertStatus(HttpStatusCode.OK);
        await SetGreylisting(true, 2);
        try
        {
            await stack.Reconcile();
            var source = stack.FreshSource();
            var first = await stack.Swaks("gus@grey.test", from: "new@remote.example", subject: "grey first", source: source, quitAfterRcpt: true);
            Assert.False(first.Ok, first.Stdout);
            Assert.Contains("450 4.7.1", first.Stdout, StringComparison.Ordinal);
            Assert.Contains("Greylisted", first.Stdout, StringComparison.Ordinal);
            var early = await stack.Swaks("gus@grey.test", from: "new@remote.example", subject: "grey early", source: source, quitAfterRcpt: true);
            Assert.Contains("450 4.7.1", early.Stdout, StringComparison.Ordinal);

            await Task.Delay(2500);
            var retry = await stack.Swaks("gus@grey.test", from: "new@remote.example", subject: "grey retry", source: source);
            Assert.True(retry.Ok, retry.Stdout);
            await stack.WaitForSubject("gus@grey.test", "Gus-pass-1", "grey retry");

            // A whitelisted sender is delivered at once.
            (await S.Post("/api/v1/antispam/whitelist", """{"entry_type":"email","value":"friend@remote.example"}""")).AssertStatus(HttpStatusCode.OK);
            var friend = await stack.Swaks("gus@grey.test", from: "friend@remote.example", subject: "grey friend", source: stack.FreshSource());
            Assert.True(friend.Ok, friend.Stdout);

            // So is mail from relay_networks (127.0.0.1 here: a webmail, Sieve replies submitted over SMTP).
            var local = await stack.Swaks("gus@grey.test", from: "webmail@panel.test", subject: "grey local");
            Assert.True(local.Ok, local.Stdout);
            await stack.WaitForSubject("gus@grey.test", "Gus-pass-1", "grey local");

            // Greylisting off for the domain (override): a new triplet is delivered at once.
            (await S.Put($"/api/v1/domains/{d}/overrides", """{"greylisting_enabled":false}""")).AssertStatus(HttpStatusCode.OK);
            var off = await stack.Swaks("gus@grey.test", from: "other@remote.example", subject: "grey off", source: stack.FreshSource());
            Assert.True(off.Ok, off.Stdout);
        }
        finally
        {
            await SetGreylisting(false, 300);
        }
    }

    [MailStackFact]
    public async Task WithThePolicyServiceDownPostfixDefersAndNothingIsAcceptedUnchecked()
    {
        var d = await S.CreateDomain("policy-down.test");
        await S.CreateMailbox(d, "pia", "Pia-pass-1");
        await stack.Reconcile();
        var policy = S.Get<PolicyServer>();
        await policy.StopAsync(CancellationToken.None);
        try
        {
            Assert.False(File.Exists(policy.SocketPath));
            var down = await stack.Swaks("pia@policy-down.test", subject: "policy down", source: stack.FreshSource(), quitAfterRcpt: true);
            Assert.False(down.Ok, down.Stdout);
            Assert.Matches(@"<\*\* 451 4\.3\.5 <pia@policy-down\.test>: .*Policy service unavailable; try again later", down.Stdout);
        }
        finally
        {
            await policy.StartAsync(CancellationToken.None);
        }
        await stack.WaitUntil(() => Task.FromResult(File.Exists(policy.SocketPath)), "the policy socket again");
        var up = await stack.Swaks("pia@policy-down.test", subject: "policy up", source: stack.FreshSource());
        Assert.True(up.Ok, up.Stdout);
        await stack.WaitForSubject("pia@policy-down.test", "Pia-pass-1", "policy up");
    }

    /// <summary>
    /// Issue 11, proof 6, with a real sending MTA (a second Postfix, <see cref="SenderMta"/>) on the
    /// internet side: while the policy service is stopped, the sandbox answers its RCPT 451 and the
    /// message stays in the sender's queue (nothing lost, nothing accepted unchecked); once the
    /// service is back, the sender's retry (postqueue -f) is accepted and delivered to the mailbox.
    /// </summary>
    [MailStackFact]
    public async Task MailDeferredWhileThePolicyServiceIsDownIsDeliveredFromTheSendersQueueAfterItsRestart()
    {
        var d = await S.CreateDomain("policy-queue.test");
        await S.CreateMailbox(d, "quinn", "Quinn-pass-1");
        await stack.Reconcile();
        await using var sender = await SenderMta.Start(S.Config.SysRoot, stack.SmtpPort, stack.FreshSource());
        var policy = S.Get<PolicyServer>();
        await policy.StopAsync(CancellationToken.None);
        try
        {
            await sender.Send("someone@sender.example", "quinn@policy-queue.test", "queued during outage");
            await stack.WaitUntil(() => Task.FromResult(sender.Log().Contains("status=deferred", StringComparison.Ordinal)),
                "the sender's first attempt to be deferred", timeoutMs: 30000);
            var log = sender.Log();
            Assert.Matches(@"to=<quinn@policy-queue\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.3\.5 <quinn@policy-queue\.test>: Recipient address rejected: Policy service unavailable; try again later", log);
            Assert.Contains("quinn@policy-queue.test", await sender.Queue(), StringComparison.Ordinal);
            Assert.Equal(0, stack.InboxCount("policy-queue.test", "quinn"));
        }
        finally
        {
            await policy.StartAsync(CancellationToken.None);
        }
        await stack.WaitUntil(() => Task.FromResult(File.Exists(policy.SocketPath)), "the policy socket again");
        await sender.Flush();
        await stack.WaitForSubject("quinn@policy-queue.test", "Quinn-pass-1", "queued during outage");
        await stack.WaitUntil(() => Task.FromResult(sender.Log().Contains("status=sent", StringComparison.Ordinal)), "the sender to log the delivery");
        await stack.WaitUntil(async () => (await sender.Queue()).Contains("Mail queue is empty", StringComparison.Ordinal), "the sender's queue to empty");
        Assert.Equal(1, stack.InboxCount("policy-queue.test", "quinn"));
    }
}
