using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// Outbound DKIM through the real OpenDKIM milter: a mailbox submits on 587 to an outside address,
/// a test-only transport hands the message to a sink SMTP listener on loopback, and python3-dkim
/// verifies the captured signature against the TXT record the API returned (DNS answered from it).
/// </summary>
[Collection(MailStackCollection.Name)]
public sealed class DkimSigningTests(MailStackFixture stack) : IAsyncLifetime
{
    TestServer S => stack.Server;
    readonly SmtpSink sink = new();

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

    async Task<string> SendAndCapture(string subject, string? source = null)
    {
        var sent = await stack.Swaks($"bob@{SinkDomain}", from: "alice@signed.test", subject: subject, submission: true,
            authUser: "alice@signed.test", authPassword: "Alice-pass-1", source: source);
        Assert.True(sent.Ok, sent.Stdout + sent.Stderr);
        string? message = null;
        await stack.WaitUntil(() => Task.FromResult(sink.TryTake(subject, out message)), $"the sink to receive '{subject}'", 20000,
            logs: SinkDomain);
        return message!;
    }

    const string SinkDomain = "sink.test";

    static async Task<(bool Ok, string Output)> Verify(string message, string txtValue)
    {
        var dir = Directory.CreateTempSubdirectory("dkim-verify-").FullName;
        try
        {
            var eml = Path.Combine(dir, "message.eml");
            await File.WriteAllTextAsync(eml, message);
            await File.WriteAllTextAsync(Path.Combine(dir, "txt"), txtValue);
            // DNS is answered from the record the API returned, for exactly the name the signature names.
            const string Script = """
                import sys, dkim
                msg = open(sys.argv[1], 'rb').read()
                txt = open(sys.argv[2], 'rb').read()
                def dns(name, timeout=5):
                    return txt if name == b'default._domainkey.signed.test.' else None
                print('verified' if dkim.verify(msg, dnsfunc=dns) else 'failed')
                """;
            var r = await MailPanel.Sys.Run.Exec("/usr/bin/python3", ["-c", Script, eml, Path.Combine(dir, "txt")], TimeSpan.FromSeconds(30));
            return (r.Ok && r.Stdout.Trim() == "verified", r.Stdout + r.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static bool Signed(string message) =>
        message.Split("\r\n\r\n")[0].Split("\r\n").Any(l => l.StartsWith("DKIM-Signature:", StringComparison.OrdinalIgnoreCase));

    [MailStackFact]
    public async Task SubmittedMailIsSignedWithTheDomainsKeyUntilDisabledOrDeleted()
    {
        Assert.True(MailStackFixture.HasOpenDkim || !MailStackFixture.InCi, "CI must install opendkim");
        if (!MailStackFixture.HasOpenDkim) return;
        var d = await S.CreateDomain("signed.test");
        await S.CreateMailbox(d, "alice", "Alice-pass-1");
        var reloads = stack.Stack.Reloads(MailPanel.Mail.Units.OpenDkim);
        var key = await S.Post("/api/v1/dkim/generate", """{"domain":"signed.test","selector":"default"}""");
        key.AssertStatus(HttpStatusCode.Created);
        var txt = DkimKeys.TxtValue(key.Json["public_key"]!.GetValue<string>());
        stack.Stack.TestTransport = [$"{SinkDomain} smtp:[127.0.0.1]:{sink.Port}"];
        await stack.Reconcile();
        Assert.True(stack.Stack.Reloads(MailPanel.Mail.Units.OpenDkim) > reloads, "the new key reloads OpenDKIM: " + stack.LastReconcile);

        var signed = await SendAndCapture("signed-1");
        Assert.True(Signed(signed), signed);
        Assert.Contains("d=signed.test", signed, StringComparison.Ordinal);
        Assert.Contains("s=default", signed, StringComparison.Ordinal);
        var (ok, output) = await Verify(signed, txt);
        Assert.True(ok, output + "\n" + signed);

        // From a client outside relay_networks (a phone on the road): signed because it authenticated.
        var remote = await SendAndCapture("signed-remote", source: stack.FreshSource());
        Assert.True(Signed(remote), remote);
        (ok, output) = await Verify(remote, txt);
        Assert.True(ok, output + "\n" + remote);

        // dkim_enabled overridden off for the domain: no signature.
        (await S.Put($"/api/v1/domains/{d}/overrides", """{"dkim_enabled":false}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.False(Signed(await SendAndCapture("unsigned-override")));

        // Back on, then the key retired: no signature either.
        (await S.Put($"/api/v1/domains/{d}/overrides", "{}")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.True(Signed(await SendAndCapture("signed-2")));
        (await S.Delete("/api/v1/dkim?domain=signed.test&selector=default")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        Assert.False(Signed(await SendAndCapture("unsigned-deleted")));
    }
}
