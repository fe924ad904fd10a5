using System.Net;
using System.Text.RegularExpressions;

namespace MailPanel.Tests;

/// <summary>Section 8: DKIM keys, checked against the real opendkim-genkey and openssl where they are installed (CI installs both).</summary>
public partial class DkimTests
{
    const string ReferenceBody = """{"domain":"example.com","selector":"default"}""";

    static bool Have(string tool)
    {
        if (MailPanel.Sys.Run.Which(tool) is not null) return true;
        Assert.True(Environment.GetEnvironmentVariable("CI") != "true", $"{tool} is not installed (.ci/run installs it)");
        return false;
    }

    /// <summary>The TXT text with each base64 run replaced by its length: the layout opendkim-genkey prints.</summary>
    static string Layout(string txt) => Base64Run().Replace(txt, m => $"<{m.Length}>");

    [GeneratedRegex("[A-Za-z0-9+/=]{40,}")]
    private static partial Regex Base64Run();

    [Fact]
    public async Task GenerateAnswers201WithTheReferenceFieldsAndAKeyInTheOpendkimGenkeyFormat()
    {
        await using var s = await TestServer.Start();
        var r = await s.Post("/api/v1/dkim/generate", ReferenceBody);
        r.AssertStatus(HttpStatusCode.Created);
        var paths = s.Get<MailPaths>();
        var keyPath = paths.DkimKeyPath("example.com", "default");
        Assert.Equal(["domain", "selector", "public_key", "private_key_path"], r.Json.AsObject().Select(p => p.Key));
        Assert.Equal("example.com", r.Json["domain"]!.GetValue<string>());
        Assert.Equal("default", r.Json["selector"]!.GetValue<string>());
        Assert.Equal(keyPath, r.Json["private_key_path"]!.GetValue<string>());
        Assert.DoesNotContain("PRIVATE", r.Body, StringComparison.Ordinal);
        var txt = r.Json["public_key"]!.GetValue<string>();
        Assert.StartsWith("default._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; \"\n\t  \"p=MIIBIjAN", txt, StringComparison.Ordinal);
        Assert.EndsWith("\" )  ; ----- DKIM key default for example.com\n", txt, StringComparison.Ordinal);

        // The private key: PKCS#8 PEM, mode 0600, in its own 0700 directory.
        var pem = await File.ReadAllTextAsync(keyPath);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----\n", pem, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(keyPath)!));

        if (Have("opendkim-genkey"))
        {
            var dir = Directory.CreateTempSubdirectory("genkey-").FullName;
            var run = await MailPanel.Sys.Run.Exec("opendkim-genkey", ["-b", "2048", "-d", "example.com", "-s", "default", "-D", dir], TimeSpan.FromSeconds(60));
            Assert.True(run.Ok, run.Describe("opendkim-genkey"));
            Assert.Equal(Layout(await File.ReadAllTextAsync(Path.Combine(dir, "default.txt"))), Layout(txt));
            Directory.Delete(dir, recursive: true);
        }
        if (Have("openssl"))
        {
            // The published key is the public half of the stored private key.
            var der = await MailPanel.Sys.Run.Exec("sh", ["-c", $"openssl pkey -in '{keyPath}' -pubout -outform DER | base64 -w0"], TimeSpan.FromSeconds(30));
            Assert.True(der.Ok, der.Describe("openssl pkey -pubout"));
            Assert.Equal("v=DKIM1; h=sha256; k=rsa; p=" + der.Stdout.Trim(), DkimKeys.TxtValue(txt));
        }
    }

    [Fact]
    public async Task SelectorDefaultsToDefaultAndRegenerateOverwritesThePair()
    {
        await using var s = await TestServer.Start();
        var first = await s.Post("/api/v1/dkim/generate", """{"domain":"Example.ORG"}""");
        first.AssertStatus(HttpStatusCode.Created);
        Assert.Equal("example.org", first.Json["domain"]!.GetValue<string>());
        Assert.Equal("default", first.Json["selector"]!.GetValue<string>());
        var keyPath = s.Get<MailPaths>().DkimKeyPath("example.org", "default");
        var pemBefore = await File.ReadAllTextAsync(keyPath);

        var second = await s.Post("/api/v1/dkim/generate", """{"domain":"example.org","selector":"default"}""");
        second.AssertStatus(HttpStatusCode.Created);
        Assert.NotEqual(first.Json["public_key"]!.GetValue<string>(), second.Json["public_key"]!.GetValue<string>());
        Assert.NotEqual(pemBefore, await File.ReadAllTextAsync(keyPath));
        var list = await s.Get("/api/v1/dkim/list");
        Assert.Equal(1, list.Json["meta"]!["total"]!.GetValue<long>());
        Assert.Equal(second.Json["public_key"]!.GetValue<string>(), list.Json["data"]![0]!["dns_record"]!.GetValue<string>());
        Assert.DoesNotContain(Directory.GetFiles(Path.GetDirectoryName(keyPath)!), f => Path.GetFileName(f) != "default.private");
    }

    [Fact]
    public async Task ListIsTheReferenceEnvelopeWithPaging()
    {
        await using var s = await TestServer.Start();
        foreach (var (domain, selector) in new[] { ("b.example", "default"), ("a.example", "s2"), ("a.example", "s1") })
            (await s.Post("/api/v1/dkim/generate", $$"""{"domain":"{{domain}}","selector":"{{selector}}"}""")).AssertStatus(HttpStatusCode.Created);
        var page = await s.Get("/api/v1/dkim/list?page=1&limit=2");
        page.AssertStatus(HttpStatusCode.OK);
        JsonAssert.Equal(System.Text.Json.Nodes.JsonNode.Parse("""{"page":1,"limit":2,"total":3}"""), page.Json["meta"]);
        var data = page.Json["data"]!.AsArray();
        Assert.Equal(["domain", "selector", "dns_record"], data[0]!.AsObject().Select(p => p.Key));
        Assert.Equal(["a.example/s1", "a.example/s2"], data.Select(d => $"{d!["domain"]}/{d["selector"]}"));
        var rest = await s.Get("/api/v1/dkim/list?page=2&limit=2");
        Assert.Equal("b.example", rest.Json["data"]![0]!["domain"]!.GetValue<string>());
        Assert.DoesNotContain("PRIVATE", page.Body + rest.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAndDeleteOneKey()
    {
        await using var s = await TestServer.Start();
        var made = await s.Post("/api/v1/dkim/generate", ReferenceBody);
        var one = await s.Get("/api/v1/dkim?domain=example.com&selector=default");
        one.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(made.Json["public_key"]!.GetValue<string>(), one.Json["public_key"]!.GetValue<string>());
        (await s.Get("/api/v1/dkim?domain=example.com")).AssertStatus(HttpStatusCode.OK); // selector defaults to default
        (await s.Get("/api/v1/dkim?domain=example.com&selector=other")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Get("/api/v1/dkim")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");

        var keyPath = s.Get<MailPaths>().DkimKeyPath("example.com", "default");
        var gone = await s.Delete("/api/v1/dkim?domain=example.com&selector=default");
        gone.AssertStatus(HttpStatusCode.OK);
        Assert.False(File.Exists(keyPath));
        (await s.Get("/api/v1/dkim?domain=example.com&selector=default")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Delete("/api/v1/dkim?domain=example.com&selector=default")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
    }

    public static TheoryData<string> BadBodies => new()
    {
        """{"selector":"default"}""",
        """{"domain":"../etc","selector":"default"}""",
        """{"domain":"a b.example"}""",
        """{"domain":"a\u0000b.example"}""",
        $$"""{"domain":"{{new string('a', 300)}}.example"}""",
        """{"domain":"example.com","selector":"../../x"}""",
        """{"domain":"example.com","selector":"a/b"}""",
        """{"domain":"example.com","selector":""}""",
        """{"domain":"example.com","selector":"a b"}""",
        """{"domain":"example.com","selector":"s\u0000"}""",
        $$"""{"domain":"example.com","selector":"{{new string('s', 64)}}"}""",
        """{"domain":"example.com","selector":"default","extra":1}""",
        """{"domain":42}""",
        "not json",
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task BadInputIs400AndWritesNothing(string body)
    {
        await using var s = await TestServer.Start();
        var r = await s.Post("/api/v1/dkim/generate", body);
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.False(Directory.Exists(s.Get<MailPaths>().OpenDkimKeysDir) && Directory.EnumerateFileSystemEntries(s.Get<MailPaths>().OpenDkimKeysDir).Any());
        Assert.Equal(0, (await s.Get("/api/v1/dkim/list")).Json["meta"]!["total"]!.GetValue<long>());
    }
}
