using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

public class AuthTests
{
    static async Task<string> Login(TestServer s)
    {
        using var anon = s.Anonymous();
        var r = await TestServer.Send(anon, HttpMethod.Post, "/auth/login", $$"""{"username":"admin","password":"{{TestServer.AdminPassword}}"}""");
        r.AssertStatus(HttpStatusCode.OK);
        return r.Json["token"]!.GetValue<string>();
    }

    static Action<HttpRequestMessage> Bearer(string token) => m => m.Headers.Authorization = new("Bearer", token);

    [Fact]
    public async Task OnlyHealthLoginAndVerifyAreOpen()
    {
        await using var s = await TestServer.Start();
        using var anon = s.Anonymous();
        foreach (var path in new[] { "/api/v1/domains", "/api/v1/admin/tokens", "/api/v1/security/settings", "/api/v1/no-such-route", "/anything" })
            (await TestServer.Send(anon, HttpMethod.Get, path)).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await TestServer.Send(anon, HttpMethod.Post, "/api/v1/domains", """{"name":"x.com"}""")).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.NotEqual(HttpStatusCode.Unauthorized, (await TestServer.Send(anon, HttpMethod.Get, "/health")).Status);
        (await TestServer.Send(anon, HttpMethod.Get, "/auth/verify")).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await TestServer.Send(anon, HttpMethod.Post, "/auth/login", """{"username":"admin","password":"wrong"}""")).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }

    [Fact]
    public async Task WrongApiKeyIsRejected()
    {
        await using var s = await TestServer.Start();
        using var anon = s.Anonymous();
        foreach (var key in new[] { "wrong", s.ApiKey + "x", s.ApiKey[..^1], "mpt_1_abc" })
            (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: m => m.Headers.Add("X-API-Key", key)))
                .AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: m => m.Headers.Add("X-API-Key", s.ApiKey)))
            .AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task LoginIssuesA24HourJwtThatVerifiesAndAuthorizes()
    {
        await using var s = await TestServer.Start();
        using var anon = s.Anonymous();
        var r = await TestServer.Send(anon, HttpMethod.Post, "/auth/login", $$"""{"username":"admin","password":"{{TestServer.AdminPassword}}"}""");
        r.AssertStatus(HttpStatusCode.OK);
        var token = r.Json["token"]!.GetValue<string>();
        var expires = DateTime.Parse(r.Json["expires_at"]!.GetValue<string>(), null, System.Globalization.DateTimeStyles.AdjustToUniversal);
        Assert.InRange((expires - DateTime.UtcNow).TotalHours, 23.9, 24.01);
        var header = JsonNode.Parse(Convert.FromBase64String(Pad(token.Split('.')[0])))!;
        Assert.Equal("HS256", header["alg"]!.GetValue<string>());

        var verify = await TestServer.Send(anon, HttpMethod.Get, "/auth/verify", configure: Bearer(token));
        verify.AssertStatus(HttpStatusCode.OK);
        Assert.True(verify.Json["valid"]!.GetValue<bool>());
        Assert.Equal("admin", verify.Json["username"]!.GetValue<string>());
        Assert.Equal(r.Json["expires_at"]!.GetValue<string>(), verify.Json["expires_at"]!.GetValue<string>());
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: Bearer(token))).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task TamperedNoneAlgAndExpiredJwtsAreRejected()
    {
        await using var s = await TestServer.Start();
        using var anon = s.Anonymous();
        var token = await Login(s);
        var parts = token.Split('.');
        string B64(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var forged = new[]
        {
            parts[0] + "." + B64($$"""{"sub":"root","iat":{{now}},"exp":{{now + 999999}}}""") + "." + parts[2],  // payload changed
            B64("""{"alg":"none","typ":"JWT"}""") + "." + parts[1] + ".",                                          // alg none, no signature
            B64("""{"alg":"none","typ":"JWT"}""") + "." + parts[1] + "." + parts[2],                               // alg none, old signature
            B64("""{"alg":"HS512","typ":"JWT"}""") + "." + parts[1] + "." + parts[2],                              // other alg
            parts[0] + "." + parts[1] + "." + parts[2][..^2] + "AA",                                               // bad signature
            "not-a-jwt", parts[0] + "." + parts[1], "",
            SignedWith("test-jwt-secret-that-is-at-least-32-bytes-long", parts[0], B64($$"""{"sub":"admin","iat":{{now - 90000}},"exp":{{now - 10}}}""")), // expired
            SignedWith("another-secret-that-is-at-least-32-bytes-long!!", parts[0], parts[1]),                      // other key
        };
        foreach (var bad in forged)
        {
            (await TestServer.Send(anon, HttpMethod.Get, "/auth/verify", configure: Bearer(bad))).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: Bearer(bad))).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }
        // The same construction with the right key and a live exp is accepted: the forgeries fail for the reason given.
        var good = SignedWith("test-jwt-secret-that-is-at-least-32-bytes-long", parts[0], B64($$"""{"sub":"admin","iat":{{now}},"exp":{{now + 60}}}"""));
        (await TestServer.Send(anon, HttpMethod.Get, "/auth/verify", configure: Bearer(good))).AssertStatus(HttpStatusCode.OK);
    }

    static string SignedWith(string secret, string header, string payload)
    {
        var sig = System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(header + "." + payload));
        return header + "." + payload + "." + Convert.ToBase64String(sig).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    static string Pad(string b64url)
    {
        var s = b64url.Replace('-', '+').Replace('_', '/');
        return s + new string('=', (4 - s.Length % 4) % 4);
    }

    [Fact]
    public async Task ApiKeyWinsOverBearerWhenBothAreSent()
    {
        await using var s = await TestServer.Start();
        using var anon = s.Anonymous();
        var token = await Login(s);
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: m => { Bearer(token)(m); m.Headers.Add("X-API-Key", "wrong"); }))
            .AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: m => { Bearer("garbage")(m); m.Headers.Add("X-API-Key", s.ApiKey); }))
            .AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ManagedTokensAreCreatedListedRotatedAndRevoked()
    {
        await using var s = await TestServer.Start();
        using var anon = s.Anonymous();
        var created = await s.Post("/api/v1/admin/tokens", """{"name":"ci-deploy"}""");
        created.AssertStatus(HttpStatusCode.Created);
        Assert.Equal(["created_at", "id", "name", "token"], created.Json.AsObject().Select(p => p.Key).Order());
        var id = created.Json["id"]!.GetValue<long>();
        var secret = created.Json["token"]!.GetValue<string>();
        Assert.Matches("^[A-Za-z0-9_]+$", secret);
        (await s.Post("/api/v1/admin/tokens", """{"name":"ci-deploy"}""")).AssertError(HttpStatusCode.Conflict, "CONFLICT");

        var list = await s.Get("/api/v1/admin/tokens");
        var row = list.Json["data"]![0]!.AsObject();
        Assert.Equal(["created_at", "id", "last_used_at", "name"], row.Select(p => p.Key).Order());
        Assert.Null(row["last_used_at"]);
        Assert.DoesNotContain(secret[..12], list.Body, StringComparison.Ordinal);

        Action<HttpRequestMessage> Key(string k) => m => m.Headers.Add("X-API-Key", k);
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: Key(secret))).AssertStatus(HttpStatusCode.OK);
        Assert.NotNull((await s.Get("/api/v1/admin/tokens")).Json["data"]![0]!["last_used_at"]);

        // Stored hashed: the secret is nowhere in the database file.
        var dbBytes = await File.ReadAllBytesAsync(s.Config.DatabasePath);
        var walPath = s.Config.DatabasePath + "-wal";
        var all = dbBytes.Concat(File.Exists(walPath) ? await File.ReadAllBytesAsync(walPath) : []).ToArray();
        Assert.Equal(-1, all.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret.Split('_')[2])));

        var rotated = await s.Post($"/api/v1/admin/tokens/{id}/rotate");
        rotated.AssertStatus(HttpStatusCode.OK);
        var secret2 = rotated.Json["token"]!.GetValue<string>();
        Assert.NotEqual(secret, secret2);
        Assert.Equal(id, rotated.Json["id"]!.GetValue<long>());
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: Key(secret))).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: Key(secret2))).AssertStatus(HttpStatusCode.OK);

        var revoked = await s.Delete($"/api/v1/admin/tokens/{id}");
        Assert.Equal("token revoked", revoked.Json["message"]!.GetValue<string>());
        (await TestServer.Send(anon, HttpMethod.Get, "/api/v1/domains", configure: Key(secret2))).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await s.Delete($"/api/v1/admin/tokens/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Post("/api/v1/admin/tokens/999/rotate")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Post("/api/v1/admin/tokens/x/rotate")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Post("/api/v1/admin/tokens", """{"name":""}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Post("/api/v1/admin/tokens", """{"name":"bad name"}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        // The static key keeps working throughout.
        (await s.Get("/api/v1/domains")).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ApiRateLimitAnswers429WithRetryAfterPerSourceIp()
    {
        await using var s = await TestServer.Start(extra: "RATE_LIMIT_API_PER_MIN=3");
        using var a = s.Anonymous(IPAddress.Parse("127.0.0.11"));
        using var b = s.Anonymous(IPAddress.Parse("127.0.0.12"));
        Action<HttpRequestMessage> key = m => m.Headers.Add("X-API-Key", s.ApiKey);
        for (var i = 0; i < 3; i++) (await TestServer.Send(a, HttpMethod.Get, "/api/v1/domains", configure: key)).AssertStatus(HttpStatusCode.OK);
        var limited = await TestServer.Send(a, HttpMethod.Get, "/api/v1/domains", configure: key);
        limited.AssertError(HttpStatusCode.TooManyRequests, "RATE_LIMITED");
        Assert.Equal("60", limited.Headers.GetValues("Retry-After").Single());
        // Bad keys count too (no brute force), and another source is unaffected.
        (await TestServer.Send(a, HttpMethod.Get, "/api/v1/domains", configure: m => m.Headers.Add("X-API-Key", "guess"))).AssertError(HttpStatusCode.TooManyRequests, "RATE_LIMITED");
        (await TestServer.Send(b, HttpMethod.Get, "/api/v1/domains", configure: key)).AssertStatus(HttpStatusCode.OK);
        // /health is never limited.
        for (var i = 0; i < 5; i++) Assert.NotEqual(HttpStatusCode.TooManyRequests, (await TestServer.Send(a, HttpMethod.Get, "/health")).Status);
    }

    [Fact]
    public async Task LoginRateLimitIsSeparateFromTheApiLimit()
    {
        await using var s = await TestServer.Start(extra: "RATE_LIMIT_LOGIN_PER_MIN=2\nRATE_LIMIT_API_PER_MIN=100");
        using var a = s.Anonymous(IPAddress.Parse("127.0.0.21"));
        const string wrong = """{"username":"admin","password":"nope"}""";
        (await TestServer.Send(a, HttpMethod.Post, "/auth/login", wrong)).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        (await TestServer.Send(a, HttpMethod.Post, "/auth/login", wrong)).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        var limited = await TestServer.Send(a, HttpMethod.Post, "/auth/login", $$"""{"username":"admin","password":"{{TestServer.AdminPassword}}"}""");
        limited.AssertError(HttpStatusCode.TooManyRequests, "RATE_LIMITED");
        Assert.Equal("60", limited.Headers.GetValues("Retry-After").Single());
        (await TestServer.Send(a, HttpMethod.Get, "/api/v1/domains", configure: m => m.Headers.Add("X-API-Key", s.ApiKey))).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task WhitelistsRestrictApiKeyAndLoginButNotJwtCalls()
    {
        await using var s = await TestServer.Start(extra: "API_KEY_WHITELIST=127.0.0.31 10.0.0.0/8\nADMIN_LOGIN_WHITELIST=127.0.0.31/32");
        using var allowed = s.Anonymous(IPAddress.Parse("127.0.0.31"));
        using var other = s.Anonymous(IPAddress.Parse("127.0.0.32"));
        Action<HttpRequestMessage> key = m => m.Headers.Add("X-API-Key", s.ApiKey);
        var login = $$"""{"username":"admin","password":"{{TestServer.AdminPassword}}"}""";
        (await TestServer.Send(allowed, HttpMethod.Get, "/api/v1/domains", configure: key)).AssertStatus(HttpStatusCode.OK);
        (await TestServer.Send(other, HttpMethod.Get, "/api/v1/domains", configure: key)).AssertError(HttpStatusCode.Forbidden, "IP_RESTRICTED");
        (await TestServer.Send(other, HttpMethod.Post, "/auth/login", login)).AssertError(HttpStatusCode.Forbidden, "IP_RESTRICTED");
        var token = (await TestServer.Send(allowed, HttpMethod.Post, "/auth/login", login)).Json["token"]!.GetValue<string>();
        // A JWT call skips the API-key whitelist.
        (await TestServer.Send(other, HttpMethod.Get, "/api/v1/domains", configure: Bearer(token))).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task SecuritySettingsStartFromConfigAndPutAppliesAtOnceAndPersists()
    {
        var dataDir = Directory.CreateTempSubdirectory("mailpanel-persist-").FullName;
        await using (var s = await TestServer.Start(extra: $"DATA_DIR={dataDir}\nRATE_LIMIT_LOGIN_PER_MIN=7\nRATE_LIMIT_API_PER_MIN=1000\nAPI_KEY_WHITELIST=127.0.0.0/8"))
        {
            var got = await s.Get("/api/v1/security/settings");
            got.AssertStatus(HttpStatusCode.OK);
            Assert.Equal("""{"rate_limit_login_per_min":7,"rate_limit_api_per_min":1000,"admin_login_whitelist":[],"api_key_whitelist":["127.0.0.0/8"]}""", got.Body);

            foreach (var bad in new[]
            {
                """{"rate_limit_login_per_min":0,"rate_limit_api_per_min":60,"admin_login_whitelist":[],"api_key_whitelist":[]}""",
                """{"rate_limit_login_per_min":5,"rate_limit_api_per_min":-1,"admin_login_whitelist":[],"api_key_whitelist":[]}""",
                """{"rate_limit_login_per_min":5,"rate_limit_api_per_min":60,"admin_login_whitelist":["10.0.0.0/33"],"api_key_whitelist":[]}""",
                """{"rate_limit_login_per_min":5,"rate_limit_api_per_min":60,"admin_login_whitelist":[],"api_key_whitelist":["not-an-ip"]}""",
                """{"rate_limit_login_per_min":5,"rate_limit_api_per_min":60,"admin_login_whitelist":[]}""",
                """{"rate_limit_login_per_min":"5","rate_limit_api_per_min":60,"admin_login_whitelist":[],"api_key_whitelist":[]}""",
            })
                (await s.Put("/api/v1/security/settings", bad)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
            Assert.Equal(got.Body, (await s.Get("/api/v1/security/settings")).Body);

            // Whitelist 127.0.0.41 only: the test client (127.0.0.1) is locked out at once, 127.0.0.41 gets in.
            var put = await s.Put("/api/v1/security/settings",
                """{"rate_limit_login_per_min":5,"rate_limit_api_per_min":60,"admin_login_whitelist":["192.0.2.0/24"],"api_key_whitelist":["127.0.0.41","::1"]}""");
            put.AssertStatus(HttpStatusCode.OK);
            (await s.Get("/api/v1/domains")).AssertError(HttpStatusCode.Forbidden, "IP_RESTRICTED");
            using var in41 = s.Anonymous(IPAddress.Parse("127.0.0.41"));
            var now = await TestServer.Send(in41, HttpMethod.Get, "/api/v1/security/settings", configure: m => m.Headers.Add("X-API-Key", s.ApiKey));
            Assert.Equal("""{"rate_limit_login_per_min":5,"rate_limit_api_per_min":60,"admin_login_whitelist":["192.0.2.0/24"],"api_key_whitelist":["127.0.0.41","::1"]}""", now.Body);
        }
        // A new process over the same database keeps the PUT values, not config.env's.
        await using var again = await TestServer.Start(extra: $"DATA_DIR={dataDir}\nRATE_LIMIT_LOGIN_PER_MIN=9");
        using var c41 = again.Anonymous(IPAddress.Parse("127.0.0.41"));
        var persisted = await TestServer.Send(c41, HttpMethod.Get, "/api/v1/security/settings", configure: m => m.Headers.Add("X-API-Key", again.ApiKey));
        Assert.Contains("\"rate_limit_login_per_min\":5", persisted.Body, StringComparison.Ordinal);
        using var c1 = again.Anonymous();
        (await TestServer.Send(c1, HttpMethod.Get, "/api/v1/domains", configure: m => m.Headers.Add("X-API-Key", again.ApiKey))).AssertError(HttpStatusCode.Forbidden, "IP_RESTRICTED");
        Directory.Delete(dataDir, recursive: true);
    }
}
