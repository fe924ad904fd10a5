using System.Net;
using System.Text;

namespace MailPanel.Tests;

/// <summary>Section 9 over HTTP: uploads checked whole before a byte is written, the list, delete, and certbot (real where it fails, fake where it succeeds).</summary>
public class TlsApiTests
{
    const string Host = "mail.example.com";

    static string UploadedDir(TestServer s) => Path.Combine(s.Get<MailPaths>().TlsDir, "uploaded");

    static string[] FilesUnder(string dir) =>
        Directory.Exists(dir) ? [.. Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)] : [];

    [Fact]
    public async Task UploadStoresTheBundle0600RegistersItAndListsItWithTheReferenceFields()
    {
        await using var s = await TestServer.Start();
        var pem = TestCerts.SelfSigned(Host);
        var r = await TestCerts.Upload(s, Host, pem.Cert, pem.Key);
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(["message", "expires_at"], r.Json.AsObject().Select(p => p.Key));
        Assert.Equal("certificate uploaded and applied", r.Json["message"]!.GetValue<string>());
        Assert.Equal(Core.Clock.Rfc3339(pem.NotAfterUtc), r.Json["expires_at"]!.GetValue<string>());

        var (chain, key) = s.Get<MailPaths>().TlsFiles("uploaded", Host);
        foreach (var file in new[] { chain, key })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(pem.Cert.Trim(), File.ReadAllText(chain).Trim());

        var list = await s.Get("/api/v1/tls/certs");
        list.AssertStatus(HttpStatusCode.OK);
        var entry = list.Json["data"]![0]!.AsObject();
        Assert.Equal(["id", "hostname", "cert_path", "key_path", "issuer", "expires_at", "created_at"], entry.Select(p => p.Key));
        Assert.Equal((Host, chain, key, "uploaded"), (entry["hostname"]!.GetValue<string>(), entry["cert_path"]!.GetValue<string>(),
            entry["key_path"]!.GetValue<string>(), entry["issuer"]!.GetValue<string>()));
        Assert.Equal(1, list.Json["meta"]!["total"]!.GetValue<long>());
        Assert.DoesNotContain("PRIVATE", list.Body, StringComparison.Ordinal);

        // A second upload for the host replaces the registration (same id) and the files.
        var next = TestCerts.SelfSigned(Host, ecdsa: true, notAfter: DateTimeOffset.UtcNow.AddDays(200));
        (await TestCerts.Upload(s, Host, next.Cert, next.Key)).AssertStatus(HttpStatusCode.OK);
        list = await s.Get("/api/v1/tls/certs");
        Assert.Equal(1, list.Json["meta"]!["total"]!.GetValue<long>());
        Assert.Equal(entry["id"]!.GetValue<long>(), list.Json["data"]![0]!["id"]!.GetValue<long>());
        Assert.Equal(Core.Clock.Rfc3339(next.NotAfterUtc), list.Json["data"]![0]!["expires_at"]!.GetValue<string>());
        Assert.Equal(next.Cert.Trim(), File.ReadAllText(chain).Trim());
        Assert.Equal(new[] { chain, key }.Order(StringComparer.Ordinal), FilesUnder(UploadedDir(s))); // no temp or previous copies left
    }

    public static TheoryData<string, string> BadUploads() => new()
    {
        { "mismatched key", "key does not match the certificate" },
        { "expired", "certificate expired" },
        { "not yet valid", "certificate not yet valid" },
        { "hostname not covered", "certificate does not cover hostname" },
        { "garbage cert", "unparseable PEM" },
        { "garbage key", "unparseable PEM" },
        { "ed25519 key", "unsupported private key" },
        { "no key part", "key_pem is required" },
        { "no cert part", "cert_pem is required" },
        { "no hostname", "hostname is required" },
        { "hostname ../", "invalid hostname" },
        { "hostname NUL", "invalid hostname" },
        { "hostname space", "invalid hostname" },
        { "hostname 300 chars", "invalid hostname" },
        { "5 MB cert", "cert_pem is too large" },
        { "5 MB key", "key_pem is too large" },
    };

    [Theory]
    [MemberData(nameof(BadUploads))]
    public async Task ABadUploadAnswers400AndChangesNothing(string bad, string error)
    {
        await using var s = await TestServer.Start();
        var good = TestCerts.SelfSigned(Host);
        (await TestCerts.Upload(s, Host, good.Cert, good.Key)).AssertStatus(HttpStatusCode.OK);
        var before = FilesUnder(UploadedDir(s)).Select(f => (f, File.ReadAllText(f))).ToList();
        var listBefore = (await s.Get("/api/v1/tls/certs")).Body;

        var other = TestCerts.SelfSigned(Host);
        var huge = new string('A', 5 << 20);
        var expired = TestCerts.SelfSigned(Host, DateTimeOffset.UtcNow.AddDays(-60), DateTimeOffset.UtcNow.AddDays(-1));
        var future = TestCerts.SelfSigned(Host, DateTimeOffset.UtcNow.AddDays(2), DateTimeOffset.UtcNow.AddDays(60));
        (string? host, string? cert, string? key) = bad switch
        {
            "mismatched key" => ((string?)Host, (string?)good.Cert, (string?)other.Key),
            "expired" => (Host, expired.Cert, expired.Key),
            "not yet valid" => (Host, future.Cert, future.Key),
            "hostname not covered" => ("other.example.com", good.Cert, good.Key),
            "garbage cert" => (Host, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", good.Key),
            "garbage key" => (Host, good.Cert, "not a key at all"),
            "ed25519 key" => (Host, good.Cert, TestCerts.Ed25519Key),
            "no key part" => (Host, good.Cert, (string?)null),
            "no cert part" => (Host, (string?)null, good.Key),
            "no hostname" => ((string?)null, good.Cert, good.Key),
            "hostname ../" => ("../../etc", good.Cert, good.Key),
            "hostname NUL" => ("mail\0.example.com", good.Cert, good.Key),
            "hostname space" => ("mail example.com", good.Cert, good.Key),
            "hostname 300 chars" => (string.Join('.', Enumerable.Repeat(new string('a', 59), 5)) + ".com", good.Cert, good.Key),
            "5 MB cert" => (Host, huge, good.Key),
            "5 MB key" => (Host, good.Cert, huge),
            _ => throw new ArgumentException(bad),
        };
        var r = await TestCerts.Upload(s, host, cert, key);
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(error, r.Json["error"]!.GetValue<string>());
        Assert.DoesNotContain("PRIVATE KEY", r.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(other.Key.Split('\n')[1], r.Body, StringComparison.Ordinal);

        Assert.Equal(before, FilesUnder(UploadedDir(s)).Select(f => (f, File.ReadAllText(f))).ToList());
        Assert.Equal(listBefore, (await s.Get("/api/v1/tls/certs")).Body);
    }

    [Fact]
    public async Task AnUploadThatIsNotMultipartAnswers400()
    {
        await using var s = await TestServer.Start();
        var r = await s.Post("/api/v1/tls/upload", """{"hostname":"mail.example.com"}""");
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal("request body must be multipart/form-data", r.Json["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task FilePartsWorkLikeFieldsAsCurlAtFileSendsThem()
    {
        await using var s = await TestServer.Start();
        var pem = TestCerts.SelfSigned(Host);
        using var form = new MultipartFormDataContent
        {
            { new StringContent(Host), "hostname" },
            { new ByteArrayContent(Encoding.ASCII.GetBytes(pem.Cert)), "cert_pem", "fullchain.pem" },
            { new ByteArrayContent(Encoding.ASCII.GetBytes(pem.Key)), "key_pem", "privkey.pem" },
        };
        var r = await s.Call(HttpMethod.Post, "/api/v1/tls/upload", configure: m => m.Content = form);
        r.AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task DeleteRemovesTheRecordButLeavesTheFiles()
    {
        await using var s = await TestServer.Start();
        var pem = TestCerts.SelfSigned(Host);
        (await TestCerts.Upload(s, Host, pem.Cert, pem.Key)).AssertStatus(HttpStatusCode.OK);
        var id = (await s.Get("/api/v1/tls/certs")).Json["data"]![0]!["id"]!.GetValue<long>();
        var r = await s.Delete($"/api/v1/tls/certs/{id}");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"certificate record removed"}""", r.Body);
        Assert.Equal(0, (await s.Get("/api/v1/tls/certs")).Json["meta"]!["total"]!.GetValue<long>());
        Assert.Equal(2, FilesUnder(UploadedDir(s)).Length);
        (await s.Delete($"/api/v1/tls/certs/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Delete("/api/v1/tls/certs/abc")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task IssueRefusesABadDomainOrAMissingEmailWith400()
    {
        await using var s = await TestServer.Start();
        foreach (var body in new[] { """{"domain":"../x","email":"a@example.com"}""", """{"domain":"mail.example.com"}""", """{"email":"a@example.com"}""", """{"domain":"-d","email":"a@example.com"}""" })
            (await s.Post("/api/v1/tls/issue", body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    /// <summary>The real certbot, which here cannot reach Let's Encrypt: the reference's 500 with its trimmed output.</summary>
    [Fact]
    public async Task IssueWithFailingCertbotAnswers500WithCertbotsTrimmedOutput()
    {
        if (MailPanel.Sys.Run.Which("certbot") is null)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "certbot is not installed (.ci/run installs it)");
            return;
        }
        await using var s = await TestServer.Start();
        // The reference's example body, verbatim.
        var r = await s.Post("/api/v1/tls/issue", """{"domain":"mail.example.com","email":"[email protected]"}""");
        r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        var error = r.Json["error"]!.GetValue<string>();
        Assert.Equal(error.Trim(), error);
        Assert.Contains("letsencrypt", error, StringComparison.OrdinalIgnoreCase); // certbot's own words: it could not reach the ACME server
        Assert.Matches("^certbot exited with code [1-9][0-9]*$", r.Json["detail"]!.GetValue<string>());
        Assert.Equal(0, (await s.Get("/api/v1/tls/certs")).Json["meta"]!["total"]!.GetValue<long>());
    }

    /// <summary>A stand-in certbot that writes a self-signed chain where certbot would, and records its arguments.</summary>
    static string FakeCertbot(string dir, int exitCode = 0)
    {
        Directory.CreateDirectory(dir);
        var script = Path.Combine(dir, "certbot");
        File.WriteAllText(script, $$"""
            #!/bin/sh
            printf '%s\n' "$@" > "{{dir}}/args"
            cfg=; domain=; days=90
            for a in "$@"; do
              case "$a" in
                --config-dir=*) cfg="${a#--config-dir=}" ;;
                --domains=*) domain="${a#--domains=}" ;;
                renew) days=120 ;;
              esac
            done
            if [ {{exitCode}} -ne 0 ]; then echo "  Attempting to renew cert ... failed: rate limited  "; exit {{exitCode}}; fi
            if [ -z "$domain" ]; then for d in "$cfg"/live/*; do domain="$(basename "$d")"; done; fi
            mkdir -p "$cfg/live/$domain"
            openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain" \
              -keyout "$cfg/live/$domain/privkey.pem" -out "$cfg/live/$domain/fullchain.pem" 2>/dev/null
            """);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        return script;
    }

    [Fact]
    public async Task IssueAndRenewRunCertbotWithAnArgumentListAndRegisterTheLiveCertificate()
    {
        var dir = Directory.CreateTempSubdirectory("fake-certbot-").FullName;
        await using var s = await TestServer.Start(extra: $"CERTBOT={FakeCertbot(dir)}");
        var r = await s.Post("/api/v1/tls/issue", """{"domain":"mail.example.com","email":"admin@example.com"}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"certificate issued"}""", r.Body);
        var le = s.Get<MailPaths>().LetsEncryptDir;
        Assert.Equal(["certonly", "--standalone", "--non-interactive", "--agree-tos", "--email=admin@example.com",
            "--cert-name=mail.example.com", "--domains=mail.example.com", $"--config-dir={le}",
            $"--work-dir={s.Get<MailPaths>().HostPath("/var/lib/letsencrypt")}", $"--logs-dir={s.Get<MailPaths>().HostPath("/var/log/letsencrypt")}"],
            File.ReadAllLines(Path.Combine(dir, "args")));
        var entry = (await s.Get("/api/v1/tls/certs")).Json["data"]![0]!;
        Assert.Equal("letsencrypt", entry["issuer"]!.GetValue<string>());
        Assert.Equal(Path.Combine(le, "live/mail.example.com/fullchain.pem"), entry["cert_path"]!.GetValue<string>());
        Assert.Equal(Path.Combine(le, "live/mail.example.com/privkey.pem"), entry["key_path"]!.GetValue<string>());
        var issued = DateTime.Parse(entry["expires_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();
        Assert.InRange((issued - DateTime.UtcNow).TotalDays, 89, 91);

        r = await s.Post("/api/v1/tls/renew");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"certificates renewed"}""", r.Body);
        Assert.Equal("renew", File.ReadAllLines(Path.Combine(dir, "args"))[0]);
        Assert.Equal("--quiet", File.ReadAllLines(Path.Combine(dir, "args"))[1]);
        var renewed = DateTime.Parse((await s.Get("/api/v1/tls/certs")).Json["data"]![0]!["expires_at"]!.GetValue<string>(),
            System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();
        Assert.InRange((renewed - DateTime.UtcNow).TotalDays, 119, 121); // the new expiry is read back
    }

    [Fact]
    public async Task RenewWithFailingCertbotAnswers500WithItsTrimmedOutput()
    {
        var dir = Directory.CreateTempSubdirectory("fake-certbot-").FullName;
        await using var s = await TestServer.Start(extra: $"CERTBOT={FakeCertbot(dir, exitCode: 3)}");
        var r = await s.Post("/api/v1/tls/renew");
        r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Equal("Attempting to renew cert ... failed: rate limited", r.Json["error"]!.GetValue<string>());
        Assert.Equal("certbot exited with code 3", r.Json["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task TheInstallersSelfSignedCertificateIsRegisteredOnceAndCoversTheMailHostname()
    {
        await using var s = await TestServer.Start(extra: "MAIL_HOSTNAME=mx.example.com");
        var said = await Rules.TlsRules.EnsureSelfSigned(s.Get<Store.Db>(), s.Get<MailPaths>(), "mx.example.com", DateTime.UtcNow);
        Assert.StartsWith("self-signed certificate for mx.example.com written to ", said, StringComparison.Ordinal);
        var entry = (await s.Get("/api/v1/tls/certs")).Json["data"]![0]!;
        Assert.Equal(("mx.example.com", "self"), (entry["hostname"]!.GetValue<string>(), entry["issuer"]!.GetValue<string>()));
        var (chain, key) = s.Get<MailPaths>().TlsFiles("self", "mx.example.com");
        Assert.Equal(chain, entry["cert_path"]!.GetValue<string>());
        foreach (var file in new[] { chain, key }) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        // The pair passes the same checks an upload does, for the mail host name.
        var (bundle, error, _) = Core.TlsBundle.Check("mx.example.com", File.ReadAllText(chain), File.ReadAllText(key), DateTime.UtcNow);
        Assert.True(bundle is not null, error);
        Assert.InRange((bundle!.NotAfterUtc - DateTime.UtcNow).TotalDays, 3640, 3651);

        var again = await Rules.TlsRules.EnsureSelfSigned(s.Get<Store.Db>(), s.Get<MailPaths>(), "mx.example.com", DateTime.UtcNow);
        Assert.Equal("a self-signed certificate for mx.example.com is already registered", again);
        Assert.Equal(1, (await s.Get("/api/v1/tls/certs")).Json["meta"]!["total"]!.GetValue<long>());
    }
}
