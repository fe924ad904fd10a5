using System.Net;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

/// <summary>
/// The bad-input table, across every route that takes a body or an id: malformed JSON,
/// wrong types, unknown fields, negative and absurd numbers, oversized bodies, ids that are not
/// integers or overflow. Each must answer 4xx in the flat shape, never 500, and write nothing.
/// </summary>
public class BadInputTests
{
    static readonly string[] BodyRoutes =
    [
        "POST /api/v1/domains", "PATCH /api/v1/domains/{domain}", "POST /api/v1/mailboxes", "PATCH /api/v1/mailboxes/{mailbox}",
        "PATCH /api/v1/mailboxes/{mailbox}/password", "POST /api/v1/aliases", "PUT /api/v1/config/global",
        "PUT /api/v1/config/domain-defaults", "PUT /api/v1/config/mailbox-defaults", "PUT /api/v1/domains/{domain}/overrides",
        "PUT /api/v1/mailboxes/{mailbox}/overrides", "PUT /api/v1/config/antispam", "POST /api/v1/antispam/whitelist",
        "POST /api/v1/admin/tokens", "PUT /api/v1/security/settings", "POST /api/v1/backup/restore", "POST /auth/login",
    ];

    static readonly (string Name, string Body)[] BadBodies =
    [
        ("malformed", """{"name": """),
        ("not json", "name=example.com"),
        ("array", """[{"name":"example.com"}]"""),
        ("string", "\"example.com\""),
        ("number", "42"),
        ("null", "null"),
        ("empty", ""),
        ("unknown field", """{"definitely_not_a_field": 1}"""),
        ("trailing garbage", """{} {}"""),
        ("deep nesting", new string('[', 5000) + new string(']', 5000)),
    ];

    static readonly string[] IdRoutes =
    [
        "GET /api/v1/domains/{id}", "PATCH /api/v1/domains/{id}", "DELETE /api/v1/domains/{id}", "GET /api/v1/mailboxes/{id}",
        "PATCH /api/v1/mailboxes/{id}", "PATCH /api/v1/mailboxes/{id}/password", "DELETE /api/v1/mailboxes/{id}",
        "GET /api/v1/aliases/{id}", "DELETE /api/v1/aliases/{id}", "GET /api/v1/domains/{id}/overrides",
        "PUT /api/v1/domains/{id}/overrides", "GET /api/v1/domains/{id}/effective", "GET /api/v1/mailboxes/{id}/overrides",
        "PUT /api/v1/mailboxes/{id}/overrides", "GET /api/v1/mailboxes/{id}/effective", "DELETE /api/v1/antispam/whitelist/{id}",
        "POST /api/v1/admin/tokens/{id}/rotate", "DELETE /api/v1/admin/tokens/{id}",
        "GET /api/v1/quarantine/{id}", "POST /api/v1/quarantine/{id}/release", "DELETE /api/v1/quarantine/{id}",
    ];

    static readonly string[] BadIds = ["abc", "0", "-1", "1.5", "99999999999999999999", "9223372036854775808", "1e3", "%20", "0x10"];

    static async Task<(long Domain, long Mailbox)> Seed(TestServer s)
    {
        var domain = await s.CreateDomain("example.com");
        var mailbox = await s.CreateMailbox(domain, "alice");
        (await s.Post("/api/v1/aliases", """{"source":"info@example.com","destination":"alice@example.com"}""")).AssertStatus(HttpStatusCode.Created);
        (await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"ip","value":"203.0.113.10"}""")).AssertStatus(HttpStatusCode.OK);
        return (domain, mailbox);
    }

    static async Task<string> Snapshot(TestServer s)
    {
        var doc = JsonNode.Parse((await s.Get("/api/v1/backup")).Body)!.AsObject();
        doc.Remove("created_at");
        return doc.ToJsonString() + (await s.Get("/api/v1/admin/tokens")).Body + (await s.Get("/api/v1/security/settings")).Body;
    }

    static void AssertClientError(Response r, string what)
    {
        Assert.True(r.Code is >= 400 and < 500, $"{what}: expected 4xx, got {r}");
        var obj = r.Json.AsObject();
        Assert.Equal(["code", "detail", "error"], obj.Select(p => p.Key).Order());
    }

    [Fact]
    public async Task EveryBodyRouteRejectsEveryKindOfBadBodyAndWritesNothing()
    {
        await using var s = await TestServer.Start();
        var (domain, mailbox) = await Seed(s);
        var before = await Snapshot(s);
        foreach (var route in BodyRoutes)
        {
            var parts = route.Replace("{domain}", domain.ToString()).Replace("{mailbox}", mailbox.ToString()).Split(' ');
            foreach (var (name, body) in BadBodies)
                AssertClientError(await s.Call(new HttpMethod(parts[0]), parts[1], body), $"{route} with {name} body");
        }
        Assert.Equal(before, await Snapshot(s));
    }

    [Fact]
    public async Task OversizedBodiesAreRefusedWith413()
    {
        await using var s = await TestServer.Start();
        await Seed(s);
        var before = await Snapshot(s);
        var huge = "{\"name\":\"x.com\",\"pad\":\"" + new string('a', 2 << 20) + "\"}";
        foreach (var route in new[] { "POST /api/v1/domains", "POST /api/v1/mailboxes", "PUT /api/v1/config/global", "POST /api/v1/aliases" })
        {
            var parts = route.Split(' ');
            // Expect: 100-continue lets the server refuse before the body is sent; without it the client
            // can hit a broken pipe while still uploading a body the server already answered 413 to.
            var r = await s.Call(new HttpMethod(parts[0]), parts[1], huge, m => m.Headers.ExpectContinue = true);
            r.AssertError(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE");
        }
        Assert.Equal(before, await Snapshot(s));
    }

    [Fact]
    public async Task EveryIdRouteRejectsIdsThatAreNotPositiveIntegers()
    {
        await using var s = await TestServer.Start();
        await Seed(s);
        var before = await Snapshot(s);
        foreach (var route in IdRoutes)
        {
            var parts = route.Split(' ');
            foreach (var id in BadIds)
            {
                var r = await s.Call(new HttpMethod(parts[0]), parts[1].Replace("{id}", id), parts[0] is "PUT" or "PATCH" ? "{}" : null);
                r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
            }
        }
        Assert.Equal(before, await Snapshot(s));
    }

    [Theory]
    [InlineData("POST", "/api/v1/mailboxes", """{"domain_id":DOM,"username":"bob","password":"pw123456","quota":-1}""")]
    [InlineData("POST", "/api/v1/mailboxes", """{"domain_id":DOM,"username":"bob","password":"pw123456","quota":1e30}""")]
    [InlineData("POST", "/api/v1/mailboxes", """{"domain_id":DOM,"username":"bob","password":"pw123456","quota":"1024"}""")]
    [InlineData("POST", "/api/v1/mailboxes", """{"domain_id":"DOM","username":"bob","password":"pw123456"}""")]
    [InlineData("POST", "/api/v1/mailboxes", """{"domain_id":DOM,"username":["bob"],"password":"pw123456"}""")]
    [InlineData("POST", "/api/v1/mailboxes", """{"domain_id":DOM,"username":"bob","password":"pw123456","Quota":5}""")]
    [InlineData("PATCH", "/api/v1/mailboxes/MBX", """{"quota":1125899906842625}""")]
    [InlineData("PATCH", "/api/v1/mailboxes/MBX", """{"active":1}""")]
    [InlineData("PATCH", "/api/v1/domains/DOM", """{"active":"false"}""")]
    [InlineData("PUT", "/api/v1/domains/DOM/overrides", """{"message_size_limit":-5}""")]
    [InlineData("PUT", "/api/v1/domains/DOM/overrides", """{"spam_threshold":1e308}""")]
    [InlineData("PUT", "/api/v1/domains/DOM/overrides", """{"dmarc_policy":"REJECT"}""")]
    [InlineData("PUT", "/api/v1/mailboxes/MBX/overrides", """{"max_send_per_day":-1}""")]
    [InlineData("PUT", "/api/v1/mailboxes/MBX/overrides", """{"enabled_pop3":"yes"}""")]
    [InlineData("PUT", "/api/v1/config/antispam", """{"dnsbl_enabled":true,"dnsbl_zones":"","greylist_enabled":true,"greylist_delay_seconds":-1,"greylist_max_age_days":35}""")]
    [InlineData("PUT", "/api/v1/security/settings", """{"rate_limit_login_per_min":2147483648,"rate_limit_api_per_min":60,"admin_login_whitelist":[],"api_key_whitelist":[]}""")]
    [InlineData("POST", "/api/v1/domains", """{"name":"example.org","outgoing_ip":12}""")]
    [InlineData("POST", "/api/v1/domains", """{"name":"exa\u0000mple.org"}""")]
    [InlineData("POST", "/api/v1/aliases", """{"source":"x@example.com","destination":"a@b.com","destination":"c@d.com"}""")]
    public async Task WrongTypesAndAbsurdNumbersAre400AndNothingIsWritten(string method, string path, string body)
    {
        await using var s = await TestServer.Start();
        var (domain, mailbox) = await Seed(s);
        var before = await Snapshot(s);
        var r = await s.Call(new HttpMethod(method), path.Replace("DOM", domain.ToString()).Replace("MBX", mailbox.ToString()),
            body.Replace("DOM", domain.ToString()));
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(before, await Snapshot(s));
    }
}
