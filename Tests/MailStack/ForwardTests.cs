using System.Net;

namespace MailPanel.Tests.MailStack;

/// <summary>forward_to / forward_keep_copy (effective mailbox config) on real mail: rendered into virtual_alias_maps.</summary>
[Collection(MailStackCollection.Name)]
public sealed class ForwardTests(MailStackFixture stack)
{
    TestServer S => stack.Server;

    [MailStackFact]
    public async Task ForwardToDeliversToTheTargetAndKeepsACopyOnlyWhenAsked()
    {
        var d = await S.CreateDomain("fwd.test");
        var fred = await S.CreateMailbox(d, "fred", "Fred-pass-1");
        await S.CreateMailbox(d, "tina", "Tina-pass-1");
        (await S.Put($"/api/v1/mailboxes/{fred}/overrides", """{"forward_to":"tina@fwd.test","forward_keep_copy":false}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.Contains("fred@fwd.test tina@fwd.test\n", File.ReadAllText(Path.Combine(stack.PostfixDir, "valias")), StringComparison.Ordinal);

        var moved = await stack.Swaks("fred@fwd.test", subject: "forward only", source: stack.FreshSource());
        Assert.True(moved.Ok, moved.Stdout);
        await stack.WaitForSubject("tina@fwd.test", "Tina-pass-1", "forward only");
        Assert.Equal(0, stack.InboxCount("fwd.test", "fred"));

        (await S.Put($"/api/v1/mailboxes/{fred}/overrides", """{"forward_to":"tina@fwd.test","forward_keep_copy":true}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        var both = await stack.Swaks("fred@fwd.test", subject: "forward and keep", source: stack.FreshSource());
        Assert.True(both.Ok, both.Stdout);
        await stack.WaitForSubject("tina@fwd.test", "Tina-pass-1", "forward and keep");
        await stack.WaitForSubject("fred@fwd.test", "Fred-pass-1", "forward and keep");

        // Forwarding off again: only the mailbox itself.
        (await S.Put($"/api/v1/mailboxes/{fred}/overrides", "{}")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.DoesNotContain("fred@fwd.test", File.ReadAllText(Path.Combine(stack.PostfixDir, "valias")), StringComparison.Ordinal);
    }
}
