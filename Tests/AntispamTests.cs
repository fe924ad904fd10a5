using System.Net;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

public class AntispamTests
{
    const string AntispamExample = """
        {
          "dnsbl_enabled":          true,
          "dnsbl_zones":            "zen.spamhaus.org bl.spamcop.net",
          "greylist_enabled":       true,
          "greylist_delay_seconds": 300,
          "greylist_max_age_days":  35
        }
        """;

    [Fact]
    public async Task AntispamConfigIsTheDnsblAndGreylistSubsetOfGlobal()
    {
        await using var s = await TestServer.Start();
        var r = await s.Get("/api/v1/config/antispam");
        r.AssertStatus(HttpStatusCode.OK);
        JsonAssert.Equal(JsonNode.Parse("""
            {"dnsbl_enabled": false, "dnsbl_zones": "", "greylist_enabled": false,
             "greylist_delay_seconds": 300, "greylist_max_age_days": 35}
            """), r.Json);
    }

    [Fact]
    public async Task PutAntispamSavesTheFiveFieldsAndLeavesTheRestOfGlobalAlone()
    {
        await using var s = await TestServer.Start();
        var global = JsonNode.Parse((await s.Get("/api/v1/config/global")).Body)!.AsObject();
        var reconciler = s.Get<Reconciler>();
        await ConfigTests.WaitForIdle(reconciler);
        var before = reconciler.Applies;

        var r = await s.Put("/api/v1/config/antispam", AntispamExample);
        r.AssertStatus(HttpStatusCode.OK);
        JsonAssert.Equal(JsonNode.Parse("""{"message": "anti-spam config saved; reconciling…"}"""), r.Json);
        JsonAssert.Equal(JsonNode.Parse(AntispamExample), (await s.Get("/api/v1/config/antispam")).Json);
        await JsonAssert.Eventually(() => reconciler.Applies > before, "reconcile after anti-spam PUT");

        var after = (await s.Get("/api/v1/config/global")).Json.AsObject();
        foreach (var (key, value) in global)
        {
            if (key == "updated_at") continue;
            var expected = JsonNode.Parse(AntispamExample)!.AsObject().ContainsKey(key) ? JsonNode.Parse(AntispamExample)![key] : value;
            JsonAssert.Equal(expected, after[key], key);
        }
    }

    [Fact]
    public async Task DnsblZonesAreNormalised()
    {
        await using var s = await TestServer.Start();
        var body = JsonNode.Parse(AntispamExample)!.AsObject();
        body["dnsbl_zones"] = "  ZEN.Spamhaus.org   bl.spamcop.net ";
        (await s.Put("/api/v1/config/antispam", body.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        Assert.Equal("zen.spamhaus.org bl.spamcop.net", (await s.Get("/api/v1/config/antispam")).Json["dnsbl_zones"]!.GetValue<string>());
        body["dnsbl_zones"] = "";
        (await s.Put("/api/v1/config/antispam", body.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        Assert.Equal("", (await s.Get("/api/v1/config/antispam")).Json["dnsbl_zones"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("greylist_delay_seconds", "-1")]
    [InlineData("greylist_max_age_days", "-1")]
    [InlineData("greylist_max_age_days", "-9223372036854775808")]
    public async Task NegativeGreylistTimesAreRejectedWithTheReferenceMessage(string field, string raw)
    {
        await using var s = await TestServer.Start();
        var body = JsonNode.Parse(AntispamExample)!.AsObject();
        body[field] = JsonNode.Parse(raw);
        var r = await s.Put("/api/v1/config/antispam", body.ToJsonString());
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal("greylist delay and max-age must be non-negative", r.Json["error"]!.GetValue<string>());
        Assert.False((await s.Get("/api/v1/config/antispam")).Json["dnsbl_enabled"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("greylist_delay_seconds", "86401")]
    [InlineData("greylist_max_age_days", "3651")]
    [InlineData("greylist_delay_seconds", "9223372036854775808")]
    [InlineData("greylist_delay_seconds", "1.5")]
    [InlineData("greylist_delay_seconds", "\"300\"")]
    [InlineData("greylist_delay_seconds", "null")]
    [InlineData("dnsbl_enabled", "\"yes\"")]
    [InlineData("dnsbl_enabled", "null")]
    [InlineData("greylist_enabled", "0")]
    [InlineData("dnsbl_zones", "\"zen.spamhaus.org;reboot\"")]
    [InlineData("dnsbl_zones", "\"zen.spamhaus.org\\nbl.spamcop.net\"")]
    [InlineData("dnsbl_zones", "null")]
    [InlineData("dnsbl_zones", "42")]
    [InlineData("message_size_limit", "1024")]
    public async Task InvalidAntispamValuesAreRejectedAndNothingIsWritten(string field, string raw)
    {
        await using var s = await TestServer.Start();
        var body = JsonNode.Parse(AntispamExample)!.AsObject();
        body[field] = JsonNode.Parse(raw);
        (await s.Put("/api/v1/config/antispam", body.ToJsonString())).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.False((await s.Get("/api/v1/config/antispam")).Json["dnsbl_enabled"]!.GetValue<bool>());
    }

    /// <summary>Each zone becomes a reject_rbl_client argument in main.cf: only a DNS name may get there, on either route.</summary>
    [Theory]
    [InlineData("zen.spamhaus.org.")]
    [InlineData("zen.spamhaus.org=127.0.0.2")]
    [InlineData("zen.spamhaus.org=127.0.0.[2..255]")]
    [InlineData("zen.spamhaus.org,bl.spamcop.net")]
    [InlineData("zen.spamhaus.org, bl.spamcop.net")]
    [InlineData("zen.spamhaus.org\tbl.spamcop.net")]
    [InlineData("zen.spamhaus.org\r\nsmtpd_recipient_restrictions = permit")]
    [InlineData("127.0.0.2")]
    [InlineData("zen.spamhaus.org/24")]
    [InlineData("localhost")]
    [InlineData("-bl.example.com")]
    [InlineData("bl-.example.com")]
    [InlineData("bl..example.com")]
    [InlineData("bl.example.123")]
    [InlineData("bl_lists.example.com")]
    [InlineData("bl.example.com }")]
    [InlineData("$mailpanel_policy")]
    [InlineData("b\u00fccher.example")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com")] // a 65-character label
    public async Task ADnsblZoneThatIsNotAHostnameIsRejectedOnBothRoutesAndNothingIsWritten(string zones)
    {
        await using var s = await TestServer.Start();
        var antispamBefore = (await s.Get("/api/v1/config/antispam")).Body;
        var globalBefore = (await s.Get("/api/v1/config/global")).Body;

        var body = JsonNode.Parse(AntispamExample)!.AsObject();
        body["dnsbl_zones"] = "bl.example.com " + zones;
        var r = await s.Put("/api/v1/config/antispam", body.ToJsonString());
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Matches("(?s)^dnsbl_zones: '.+' is not a valid DNS name$", r.Json["error"]!.GetValue<string>());

        var global = JsonNode.Parse(globalBefore)!.AsObject();
        global["dnsbl_enabled"] = true;
        global["dnsbl_zones"] = zones;
        r = await s.Put("/api/v1/config/global", global.ToJsonString());
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Matches("(?s)^dnsbl_zones: '.+' is not a valid DNS name$", r.Json["error"]!.GetValue<string>());

        Assert.Equal(antispamBefore, (await s.Get("/api/v1/config/antispam")).Body);
        Assert.Equal(globalBefore, (await s.Get("/api/v1/config/global")).Body);
    }

    [Fact]
    public async Task AFullLengthDnsblZoneIsAccepted()
    {
        await using var s = await TestServer.Start();
        var zone = string.Join('.', Enumerable.Repeat(new string('a', 63), 3)) + ".example"; // 63-character labels, 199 characters
        var body = JsonNode.Parse(AntispamExample)!.AsObject();
        body["dnsbl_zones"] = zone;
        (await s.Put("/api/v1/config/antispam", body.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(zone, (await s.Get("/api/v1/config/antispam")).Json["dnsbl_zones"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("dnsbl_enabled")]
    [InlineData("dnsbl_zones")]
    [InlineData("greylist_enabled")]
    [InlineData("greylist_delay_seconds")]
    [InlineData("greylist_max_age_days")]
    public async Task PutAntispamRequiresAllFiveFields(string field)
    {
        await using var s = await TestServer.Start();
        var body = JsonNode.Parse(AntispamExample)!.AsObject();
        body.Remove(field);
        (await s.Put("/api/v1/config/antispam", body.ToJsonString())).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.False((await s.Get("/api/v1/config/antispam")).Json["dnsbl_enabled"]!.GetValue<bool>());
    }

    [Fact]
    public async Task WhitelistEntriesAreCreatedListedAndDeleted()
    {
        await using var s = await TestServer.Start();
        var reconciler = s.Get<Reconciler>();
        Assert.Empty((await s.Get("/api/v1/antispam/whitelist")).Json["data"]!.AsArray());

        await ConfigTests.WaitForIdle(reconciler);
        var before = reconciler.Applies;
        var ip = await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"ip","value":"203.0.113.10","note":"monitoring sender"}""");
        ip.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(["id", "entry_type", "value", "note", "created_at"], ip.Json.AsObject().Select(p => p.Key));
        Assert.Equal("ip", ip.Json["entry_type"]!.GetValue<string>());
        Assert.Equal("203.0.113.10", ip.Json["value"]!.GetValue<string>());
        Assert.Equal("monitoring sender", ip.Json["note"]!.GetValue<string>());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ip.Json["created_at"]!.GetValue<string>());
        await JsonAssert.Eventually(() => reconciler.Applies > before, "reconcile after whitelist POST");

        var domain = await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"domain","value":"Trusted-Partner.COM"}""");
        domain.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("trusted-partner.com", domain.Json["value"]!.GetValue<string>());
        Assert.Equal("", domain.Json["note"]!.GetValue<string>());
        var cidr = await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"cidr","value":"[2001:DB8::]/32","note":null}""");
        cidr.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("2001:db8::/32", cidr.Json["value"]!.GetValue<string>());
        var email = await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"email","value":"Newsletter@Partner.EXAMPLE"}""");
        email.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("Newsletter@partner.example", email.Json["value"]!.GetValue<string>());

        var list = await s.Get("/api/v1/antispam/whitelist");
        list.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(4, list.Json["meta"]!["total"]!.GetValue<long>());
        JsonAssert.Equal(ip.Json, list.Json["data"]![0]);
        JsonAssert.Equal(domain.Json, list.Json["data"]![1]);
        var page2 = await s.Get("/api/v1/antispam/whitelist?page=2&limit=3");
        Assert.Single(page2.Json["data"]!.AsArray());
        JsonAssert.Equal(email.Json, page2.Json["data"]![0]);
        (await s.Get("/api/v1/antispam/whitelist?limit=0")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");

        await ConfigTests.WaitForIdle(reconciler);
        before = reconciler.Applies;
        var id = ip.Json["id"]!.GetValue<long>();
        var deleted = await s.Delete($"/api/v1/antispam/whitelist/{id}");
        deleted.AssertStatus(HttpStatusCode.OK);
        JsonAssert.Equal(JsonNode.Parse("""{"message": "whitelist entry deleted"}"""), deleted.Json);
        await JsonAssert.Eventually(() => reconciler.Applies > before, "reconcile after whitelist DELETE");
        Assert.Equal(3, (await s.Get("/api/v1/antispam/whitelist")).Json["meta"]!["total"]!.GetValue<long>());
        (await s.Delete($"/api/v1/antispam/whitelist/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        foreach (var bad in new[] { "0", "abc", "-1", "99999999999999999999" })
            (await s.Delete($"/api/v1/antispam/whitelist/{bad}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Theory]
    [InlineData("ip", "203.0.113.10", "203.0.113.10")]
    [InlineData("ip", "2001:db8::1", "2001:DB8:0:0:0:0:0:1")]
    [InlineData("cidr", "10.0.0.0/8", "10.0.0.0/8")]
    [InlineData("domain", "partner.example", "PARTNER.example")]
    [InlineData("email", "a@partner.example", "a@Partner.Example")]
    public async Task DuplicateWhitelistEntryIsAConflictHoweverItIsWritten(string type, string first, string second)
    {
        await using var s = await TestServer.Start();
        (await s.Post("/api/v1/antispam/whitelist", $$"""{"entry_type":"{{type}}","value":"{{first}}"}""")).AssertStatus(HttpStatusCode.OK);
        (await s.Post("/api/v1/antispam/whitelist", $$"""{"entry_type":"{{type}}","value":"{{second}}"}""")).AssertError(HttpStatusCode.Conflict, "CONFLICT");
        Assert.Equal(1, (await s.Get("/api/v1/antispam/whitelist")).Json["meta"]!["total"]!.GetValue<long>());
    }

    [Fact]
    public async Task TheSameValueUnderAnotherTypeIsNotADuplicate()
    {
        await using var s = await TestServer.Start();
        (await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"ip","value":"192.0.2.1"}""")).AssertStatus(HttpStatusCode.OK);
        (await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"cidr","value":"192.0.2.1/32"}""")).AssertStatus(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("""{"value":"203.0.113.10"}""", "entry_type must be one of ip, cidr, domain, email")]
    [InlineData("""{"entry_type":"host","value":"203.0.113.10"}""", "entry_type must be one of ip, cidr, domain, email")]
    [InlineData("""{"entry_type":"IP","value":"203.0.113.10"}""", "entry_type must be one of ip, cidr, domain, email")]
    [InlineData("""{"entry_type":null,"value":"203.0.113.10"}""", "entry_type must be one of ip, cidr, domain, email")]
    [InlineData("""{"entry_type":"ip"}""", "value is required")]
    [InlineData("""{"entry_type":"ip","value":""}""", "value is required")]
    [InlineData("""{"entry_type":"ip","value":"   "}""", "value is required")]
    [InlineData("""{"entry_type":"ip","value":"300.1.1.1"}""", null)]
    [InlineData("""{"entry_type":"ip","value":"10.0.0.0/8"}""", null)]
    [InlineData("""{"entry_type":"ip","value":"example.com"}""", null)]
    [InlineData("""{"entry_type":"ip","value":"127.1"}""", null)]
    [InlineData("""{"entry_type":"cidr","value":"10.0.0.0"}""", null)]
    [InlineData("""{"entry_type":"cidr","value":"10.0.0.1/8"}""", null)]
    [InlineData("""{"entry_type":"cidr","value":"10.0.0.0/33"}""", null)]
    [InlineData("""{"entry_type":"domain","value":"localhost"}""", null)]
    [InlineData("""{"entry_type":"domain","value":"bad_name.com"}""", null)]
    [InlineData("""{"entry_type":"domain","value":"a@b.com"}""", null)]
    [InlineData("""{"entry_type":"email","value":"partner.example"}""", null)]
    [InlineData("""{"entry_type":"email","value":"a b@partner.example"}""", null)]
    [InlineData("""{"entry_type":"ip","value":"192.0.2.1","note":"line\nbreak"}""", null)]
    [InlineData("""{"entry_type":"ip","value":192}""", null)]
    [InlineData("""{"entry_type":"ip","value":"192.0.2.1","id":5}""", null)]
    [InlineData("""{"entry_type":"ip","value":"192.0.2.1","note":7}""", null)]
    [InlineData("""[]""", null)]
    [InlineData("""{"entry_type":"ip","value":"192.0.2.1",}""", null)]
    public async Task InvalidWhitelistEntryIsRejectedAndNothingIsWritten(string body, string? error)
    {
        await using var s = await TestServer.Start();
        var r = await s.Post("/api/v1/antispam/whitelist", body);
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        if (error is not null) Assert.Equal(error, r.Json["error"]!.GetValue<string>());
        Assert.Equal(0, (await s.Get("/api/v1/antispam/whitelist")).Json["meta"]!["total"]!.GetValue<long>());
    }

    [Fact]
    public async Task WhitelistNoteIsLimitedTo500Characters()
    {
        await using var s = await TestServer.Start();
        (await s.Post("/api/v1/antispam/whitelist", $$"""{"entry_type":"ip","value":"192.0.2.1","note":"{{new string('n', 501)}}"}"""))
            .AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        var r = await s.Post("/api/v1/antispam/whitelist", $$"""{"entry_type":"ip","value":"192.0.2.1","note":"{{new string('n', 500)}}"}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(500, r.Json["note"]!.GetValue<string>().Length);
    }
}
