using System.Net;
using System.Text.RegularExpressions;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// A second sandboxed stack for the TLS proofs: certificates come and go here, so the plaintext
/// logins of the main stack's tests never race with them.
/// </summary>
public sealed class TlsStackFixture : MailStackFixture;

[CollectionDefinition(Name)]
public sealed class TlsStackCollection : ICollectionFixture<TlsStackFixture>
{
    public const string Name = "tls stack";
}

/// <summary>
/// Section 9 on the real daemons: an uploaded certificate is what Postfix (25, 587) and Dovecot
/// (143, 110 with STARTTLS; 993, 995) present, tls_min_version is enforced on both, a bad upload
/// leaves the served certificate alone, and require_tls_inbound / require_tls_client are enforced
/// by Postfix and Dovecot themselves. openssl s_client, swaks and curl are the clients.
/// </summary>
[Collection(TlsStackCollection.Name)]
public sealed partial class TlsStackTests(TlsStackFixture stack)
{
    const string Hostname = "mail.panel.test"; // the fixture's MAIL_HOSTNAME
    TestServer S => stack.Server;

    /// <summary>Uploads a fresh certificate for the server's hostname, reconciles, and returns it.</summary>
    async Task<TestCerts.Pem> Serve(bool ecdsa = false)
    {
        var pem = TestCerts.SelfSigned(Hostname, ecdsa: ecdsa);
        (await TestCerts.Upload(S, Hostname, pem.Cert, pem.Key)).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        return pem;
    }

    /// <summary>One TLS handshake with openssl s_client: whether it completed, and the leaf the server presented.</summary>
    async Task<(bool Ok, byte[]? Leaf, string Output)> Handshake(int port, string? starttls, params string[] extra)
    {
        List<string> args = ["s_client", "-connect", $"127.0.0.1:{port}", "-servername", Hostname];
        if (starttls is not null) args.AddRange(["-starttls", starttls]);
        args.AddRange(extra);
        var r = await MailPanel.Sys.Run.Exec("openssl", args, TimeSpan.FromSeconds(20), stdin: "");
        var output = r.Stdout + r.Stderr;
        var pem = CertBlock().Match(r.Stdout);
        byte[]? leaf = pem.Success ? Convert.FromBase64String(pem.Groups[1].Value.Replace("\n", "", StringComparison.Ordinal)) : null;
        var protocol = Protocol().Match(output);
        return (r.ExitCode == 0 && leaf is not null && protocol.Success, leaf, output);
    }

    [GeneratedRegex("-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)\n-----END CERTIFICATE-----")]
    private static partial Regex CertBlock();

    [GeneratedRegex(@"(?m)^New, TLSv1\.[0-3], Cipher is (?!\(NONE\))")]
    private static partial Regex Protocol();

    (int Port, string? StartTls)[] AllTlsPorts() =>
    [
        (stack.SmtpPort, "smtp"), (stack.SubmissionPort, "smtp"), (stack.ImapPort, "imap"), (stack.Pop3Port, "pop3"),
        (stack.ImapsPort, null), (stack.Pop3sPort, null),
    ];

    [MailStackFact]
    public async Task AnUploadedCertificateIsWhatEveryMailPortPresents()
    {
        var first = await Serve();
        foreach (var (port, starttls) in AllTlsPorts())
        {
            var h = await Handshake(port, starttls);
            Assert.True(h.Ok, $"port {port} ({starttls ?? "implicit TLS"}): {h.Output}");
            Assert.Equal(first.LeafDer, h.Leaf);
        }

        // A replacement at the same paths (same hostname): the configs name the files' digest, so the daemons reload and serve it.
        var second = await Serve(ecdsa: true);
        foreach (var (port, starttls) in AllTlsPorts())
        {
            var h = await Handshake(port, starttls);
            Assert.True(h.Ok, $"port {port}: {h.Output}");
            Assert.Equal(second.LeafDer, h.Leaf);
        }
    }

    async Task SetMinVersion(string version)
    {
        var global = (await S.Get("/api/v1/config/global")).Json.AsObject();
        global["tls_min_version"] = version;
        (await S.Put("/api/v1/config/global", global.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
    }

    [MailStackFact]
    public async Task TlsMinVersionIsEnforcedByPostfixAndDovecot()
    {
        await Serve();
        (int, string?)[] ports = [(stack.SmtpPort, "smtp"), (stack.SubmissionPort, "smtp"), (stack.ImapPort, "imap"), (stack.ImapsPort, null)];
        try
        {
            await SetMinVersion("TLSv1.3");
            foreach (var (port, starttls) in ports)
            {
                var refused = await Handshake(port, starttls, "-tls1_2");
                Assert.False(refused.Ok, $"TLS 1.2 on port {port} with tls_min_version TLSv1.3: {refused.Output}");
                var accepted = await Handshake(port, starttls, "-tls1_3");
                Assert.True(accepted.Ok, $"TLS 1.3 on port {port}: {accepted.Output}");
            }

            await SetMinVersion("TLSv1.2");
            foreach (var (port, starttls) in ports)
            {
                // SECLEVEL=0 lets this client offer TLS 1.1 at all: the refusal is the server's.
                var refused = await Handshake(port, starttls, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0");
                Assert.False(refused.Ok, $"TLS 1.1 on port {port} with tls_min_version TLSv1.2: {refused.Output}");
                var accepted = await Handshake(port, starttls, "-tls1_2");
                Assert.True(accepted.Ok, $"TLS 1.2 on port {port} with tls_min_version TLSv1.2: {accepted.Output}");
            }
        }
        finally
        {
            await SetMinVersion("TLSv1.2");
        }
    }

    [MailStackFact]
    public async Task ABadUploadLeavesTheServedCertificateInPlace()
    {
        var served = await Serve();
        var other = TestCerts.SelfSigned(Hostname);
        var expired = TestCerts.SelfSigned(Hostname, DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        var elsewhere = TestCerts.SelfSigned("other.panel.test");
        foreach (var (cert, key) in new[] { (served.Cert, other.Key), (expired.Cert, expired.Key), (elsewhere.Cert, elsewhere.Key), ("garbage", "garbage") })
            (await TestCerts.Upload(S, Hostname, cert, key)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        await stack.Reconcile();
        foreach (var (port, starttls) in new[] { (stack.SmtpPort, "smtp"), (stack.ImapsPort, (string?)null) })
        {
            var h = await Handshake(port, starttls);
            Assert.True(h.Ok, h.Output);
            Assert.Equal(served.LeafDer, h.Leaf);
        }
    }

    [MailStackFact]
    public async Task RequireTlsInboundRefusesPlaintextRecipientsAndAcceptsThemAfterStartTls()
    {
        await Serve();
        var strict = await S.CreateDomain("tls-in.test");
        await S.CreateMailbox(strict, "bob", "Bob-pass-1");
        var relaxed = await S.CreateDomain("plain-in.test");
        await S.CreateMailbox(relaxed, "carol", "Carol-pass-1");
        (await S.Put($"/api/v1/domains/{strict}/overrides", """{"require_tls_inbound":true}""")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();

        // From outside relay_networks, as a remote MX would connect.
        var plain = await stack.Swaks("bob@tls-in.test", source: stack.FreshSource(), quitAfterRcpt: true);
        Assert.False(plain.Ok, plain.Stdout);
        Assert.True(Regex.IsMatch(plain.Stdout, @"<\** 530 5\.7\.1 Session encryption is required"), plain.Stdout);

        var control = await stack.Swaks("carol@plain-in.test", source: stack.FreshSource(), subject: "plain ok");
        Assert.True(control.Ok, control.Stdout + control.Stderr);

        var secured = await stack.Swaks("bob@tls-in.test", source: stack.FreshSource(), subject: "over starttls", tls: true);
        Assert.True(secured.Ok, secured.Stdout + secured.Stderr);
        await stack.WaitForSubject("bob@tls-in.test", "Bob-pass-1", "over starttls", tls: true);
    }

    [MailStackFact]
    public async Task RequireTlsClientRefusesThatMailboxsLoginsWithoutTls()
    {
        var domain = await S.CreateDomain("tls-client.test");
        await S.CreateMailbox(domain, "free", "Free-pass-1");
        var strictId = await S.CreateMailbox(domain, "strict", "Strict-pass-1");
        (await S.Put($"/api/v1/mailboxes/{strictId}/overrides", """{"require_tls_client":true}""")).AssertStatus(HttpStatusCode.OK);

        // No certificate registered: plaintext logins are allowed, except for the mailbox that requires TLS.
        foreach (var cert in (await S.Get("/api/v1/tls/certs")).Json["data"]!.AsArray())
            (await S.Delete($"/api/v1/tls/certs/{cert!["id"]!.GetValue<long>()}")).AssertStatus(HttpStatusCode.OK);
        await stack.Reconcile();
        var free = await stack.Imap("free@tls-client.test", "Free-pass-1", source: stack.FreshSource());
        Assert.True(free.Ok, free.Describe("curl imap free"));
        var strict = await stack.Imap("strict@tls-client.test", "Strict-pass-1", source: stack.FreshSource());
        Assert.Equal(67, strict.ExitCode); // login denied
        var freeSmtp = await stack.Swaks("someone@outside.test", from: "free@tls-client.test", submission: true, source: stack.FreshSource(),
            authUser: "free@tls-client.test", authPassword: "Free-pass-1", quitAfterRcpt: true);
        Assert.True(freeSmtp.Ok, freeSmtp.Stdout);
        var strictSmtp = await stack.Swaks("someone@outside.test", from: "strict@tls-client.test", submission: true, source: stack.FreshSource(),
            authUser: "strict@tls-client.test", authPassword: "Strict-pass-1", quitAfterRcpt: true);
        Assert.False(strictSmtp.Ok, strictSmtp.Stdout);
        Assert.Contains("535", strictSmtp.Stdout, StringComparison.Ordinal);

        // With a certificate: the same mailbox logs in over TLS, on IMAP and on submission.
        await Serve();
        var overTls = await stack.Imap("strict@tls-client.test", "Strict-pass-1", source: stack.FreshSource(), tls: true);
        Assert.True(overTls.Ok, overTls.Describe("curl imap strict over STARTTLS"));
        var smtpTls = await stack.Swaks("someone@outside.test", from: "strict@tls-client.test", submission: true, source: stack.FreshSource(),
            authUser: "strict@tls-client.test", authPassword: "Strict-pass-1", quitAfterRcpt: true, tls: true);
        Assert.True(smtpTls.Ok, smtpTls.Stdout);
        var stillPlain = await stack.Imap("strict@tls-client.test", "Strict-pass-1", source: stack.FreshSource());
        Assert.Equal(67, stillPlain.ExitCode);

        // Everyone else now needs TLS too from a remote address. A client on the server's own address
        // (webmail on the host) is "secured" for Dovecot, as over TLS: nothing crosses a network, and
        // both mailboxes may log in there.
        var freeRemote = await stack.Imap("free@tls-client.test", "Free-pass-1", source: stack.FreshSource());
        Assert.Equal(67, freeRemote.ExitCode);
        foreach (var (user, password) in new[] { ("free", "Free-pass-1"), ("strict", "Strict-pass-1") })
        {
            var local = await stack.Imap($"{user}@tls-client.test", password, source: "127.0.0.1");
            Assert.True(local.Ok, local.Describe($"curl imap {user} from 127.0.0.1 to 127.0.0.1"));
        }
    }
}
