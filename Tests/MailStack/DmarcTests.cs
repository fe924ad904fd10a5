using System.Net;

namespace MailPanel.Tests.MailStack;

/// <summary>Inbound DMARC through the real OpenDMARC milter (after OpenDKIM's): the delivered message carries its verdict.</summary>
[Collection(MailStackCollection.Name)]
public sealed class DmarcTests(MailStackFixture stack)
{
    TestServer S => stack.Server;

    string Delivered(string domain, string user, string subject)
    {
        var maildir = Path.Combine(stack.VmailDir, domain, user, "Maildir");
        return new[] { "new", "cur" }.Select(d => Path.Combine(maildir, d)).Where(Directory.Exists)
            .SelectMany(Directory.GetFiles).Select(File.ReadAllText).Single(m => m.Contains($"Subject: {subject}", StringComparison.Ordinal));
    }

    /// <summary>The unfolded header lines called <paramref name="name"/> (Dovecot stores messages with LF line ends).</summary>
    static string[] Headers(string message, string name)
    {
        var text = message.Replace("\r\n", "\n", StringComparison.Ordinal);
        var head = text[..text.IndexOf("\n\n", StringComparison.Ordinal)].Replace("\n\t", " ", StringComparison.Ordinal).Replace("\n ", " ", StringComparison.Ordinal);
        return [.. head.Split('\n').Where(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))];
    }

    [MailStackFact]
    public async Task InboundMailFromAnExternalSenderGetsOpenDmarcsAuthenticationResults()
    {
        Assert.True(MailStackFixture.HasOpenDmarc, "opendmarc is not installed (.ci/run installs it)");
        var domain = await S.CreateDomain("dmarc-in.test");
        await S.CreateMailbox(domain, "dora", "Dora-pass-1");
        await stack.Reconcile();
        Assert.Contains("smtpd_milters = unix:", File.ReadAllText(Path.Combine(stack.PostfixDir, "main.cf")), StringComparison.Ordinal);

        // An outside sender (not in relay_networks, not authenticated): OpenDMARC judges it.
        var sent = await stack.Swaks("dora@dmarc-in.test", from: "someone@sender.example", subject: "dmarc inbound", source: stack.FreshSource());
        Assert.True(sent.Ok, sent.Stdout + sent.Stderr);
        await stack.WaitForSubject("dora@dmarc-in.test", "Dora-pass-1", "dmarc inbound");
        var results = Headers(Delivered("dmarc-in.test", "dora", "dmarc inbound"), "Authentication-Results");
        Assert.Contains(results, h => h.StartsWith("Authentication-Results: mail.panel.test; dmarc=", StringComparison.Ordinal)
            && h.Contains("header.from=sender.example", StringComparison.Ordinal));

        // Mail from loopback (relay_networks: our own submissions pass through it) is not judged.
        var local = await stack.Swaks("dora@dmarc-in.test", from: "someone@sender.example", subject: "dmarc local");
        Assert.True(local.Ok, local.Stdout + local.Stderr);
        await stack.WaitForSubject("dora@dmarc-in.test", "Dora-pass-1", "dmarc local");
        Assert.DoesNotContain(Headers(Delivered("dmarc-in.test", "dora", "dmarc local"), "Authentication-Results"),
            h => h.Contains("dmarc=", StringComparison.Ordinal));
    }
}
