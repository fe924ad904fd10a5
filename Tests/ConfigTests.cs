using System.Net;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

public class ConfigTests
{
    // ---- the reference's example bodies, verbatim (sections 5-7) ----

    const string GlobalExample = """
        {
          "message_size_limit":      26214400,
          "max_smtpd_connections":   100,
          "max_smtpd_rate_per_min":  600,
          "relay_networks":          "127.0.0.0/8 [::1]/128",
          "tls_min_version":         "TLSv1.2",
          "cipher_policy":           "high",
          "spam_remote_host":        "",
          "spam_remote_port":        783,
          "spam_remote_network":     "",
          "dnsbl_enabled":           false,
          "dnsbl_zones":             "",
          "greylist_enabled":        false,
          "greylist_delay_seconds":  300,
          "greylist_max_age_days":   35,
          "updated_at":              "2026-05-02T03:11:42Z"
        }
        """;

    const string DomainDefaultsExample = """
        {
          "quota_total_bytes":    10737418240,
          "max_mailboxes":        100,
          "max_aliases":          100,
          "message_size_limit":   null,
          "dkim_enabled":         true,
          "spf_policy":           "~all",
          "dmarc_policy":         "none",
          "spam_threshold":       5.0,
          "spam_action":          "tag",
          "clamav_action":        "quarantine",
          "greylisting_enabled":  false,
          "require_tls_inbound":  false,
          "updated_at":           "2026-05-02T03:11:42Z"
        }
        """;

    const string MailboxDefaultsExample = """
        {
          "quota_bytes":                1073741824,
          "enabled_smtp":               true,
          "enabled_imap":               true,
          "enabled_pop3":               false,
          "max_send_per_day":           1000,
          "max_recipients_per_message": 100,
          "message_size_limit":         null,
          "spam_threshold":             null,
          "spam_action":                null,
          "auto_junk_threshold":        7.0,
          "vacation_enabled":           false,
          "vacation_message":           "",
          "forward_to":                 "",
          "forward_keep_copy":          true,
          "require_tls_client":         false,
          "updated_at":                 "2026-05-02T03:11:42Z"
        }
        """;

    const string DomainOverridesExample = """
        {
          "quota_total_bytes":   53687091200,
          "max_mailboxes":       null,
          "max_aliases":         null,
          "message_size_limit":  52428800,
          "dkim_enabled":        null,
          "spf_policy":          null,
          "dmarc_policy":        "reject",
          "spam_threshold":      null,
          "spam_action":         null,
          "clamav_action":       null,
          "greylisting_enabled": null,
          "require_tls_inbound": true
        }
        """;

    const string DomainEffectiveExample = """
        {
          "domain_id":            1,
          "domain_name":          "example.com",
          "outgoing_ip":          "203.0.113.10",
          "quota_total_bytes":    53687091200,
          "max_mailboxes":        100,
          "max_aliases":          100,
          "message_size_limit":   52428800,
          "dkim_enabled":         true,
          "spf_policy":           "~all",
          "dmarc_policy":         "reject",
          "spam_threshold":       5.0,
          "spam_action":          "tag",
          "clamav_action":        "quarantine",
          "greylisting_enabled":  false,
          "require_tls_inbound":  true,
          "active":               true
        }
        """;

    const string MailboxOverridesExample = """
        {
          "enabled_smtp":               null,
          "enabled_imap":               null,
          "enabled_pop3":               true,
          "max_send_per_day":           5000,
          "max_recipients_per_message": null,
          "message_size_limit":         null,
          "spam_threshold":             null,
          "spam_action":                null,
          "auto_junk_threshold":        null,
          "vacation_enabled":           true,
          "vacation_message":           "On leave until May 15",
          "forward_to":                 null,
          "forward_keep_copy":          null,
          "require_tls_client":         null
        }
        """;

    const string MailboxEffectiveExample = """
        {
          "mailbox_id":                 12,
          "mailbox_username":           "alice",
          "domain_id":                  1,
          "domain_name":                "example.com",
          "quota_bytes":                1073741824,
          "enabled_smtp":               true,
          "enabled_imap":               true,
          "enabled_pop3":               true,
          "max_send_per_day":           5000,
          "max_recipients_per_message": 100,
          "message_size_limit":         52428800,
          "spam_threshold":             5.0,
          "spam_action":                "tag",
          "auto_junk_threshold":        7.0,
          "vacation_enabled":           true,
          "vacation_message":           "On leave until May 15",
          "forward_to":                 "",
          "forward_keep_copy":          true,
          "require_tls_client":         false,
          "clamav_action":              "quarantine",
          "greylisting_enabled":        false,
          "require_tls_inbound":        true,
          "dkim_enabled":               true,
          "spf_policy":                 "~all",
          "dmarc_policy":               "reject",
          "mailbox_active":             true,
          "domain_active":              true
        }
        """;

    const string Timestamp = @"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$";

    /// <summary>Inserts a mailbox row directly, to set what the mailbox API does not expose (e.g. quota 0, inactive at birth).</summary>
    internal static long SeedMailbox(TestServer s, long domainId, string username, long quota = 0, bool active = true)
    {
        using var c = s.Get<Db>().Open();
        return c.Command("""
            INSERT INTO mailboxes(domain_id, username, password_hash, quota, active, created_at)
            VALUES($d, $u, 'x', $q, $a, '2026-05-02T03:11:42Z') RETURNING id
            """, ("$d", domainId), ("$u", username), ("$q", quota), ("$a", active)).Scalar();
    }

    static JsonObject Without(string json, string field)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        o.Remove(field);
        return o;
    }

    static string With(string json, string field, string rawValue)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        o[field] = JsonNode.Parse(rawValue);
        return o.ToJsonString();
    }

    [Fact]
    public async Task ReplayingTheReferenceExamplesReproducesBothEffectiveExamples()
    {
        await using var s = await TestServer.Start();
        Assert.Equal(1, await s.CreateDomain("example.com", "203.0.113.10"));
        (await s.Put("/api/v1/config/global", GlobalExample)).AssertStatus(HttpStatusCode.OK);
        (await s.Put("/api/v1/config/domain-defaults", DomainDefaultsExample)).AssertStatus(HttpStatusCode.OK);
        (await s.Put("/api/v1/config/mailbox-defaults", MailboxDefaultsExample)).AssertStatus(HttpStatusCode.OK);
        (await s.Put("/api/v1/domains/1/overrides", DomainOverridesExample)).AssertStatus(HttpStatusCode.OK);

        var other = await s.CreateDomain("other.example");
        for (var i = 1; i <= 11; i++) await s.CreateMailbox(other, $"user{i}");
        Assert.Equal(12, await s.CreateMailbox(1, "alice", quota: 1073741824));
        (await s.Put("/api/v1/mailboxes/12/overrides", MailboxOverridesExample)).AssertStatus(HttpStatusCode.OK);

        var domain = await s.Get("/api/v1/domains/1/effective");
        domain.AssertStatus(HttpStatusCode.OK);
        JsonAssert.Equal(JsonNode.Parse(DomainEffectiveExample)!, domain.Json);
        var mailbox = await s.Get("/api/v1/mailboxes/12/effective");
        mailbox.AssertStatus(HttpStatusCode.OK);
        JsonAssert.Equal(JsonNode.Parse(MailboxEffectiveExample)!, mailbox.Json);

        // The override GETs give back exactly what was PUT.
        JsonAssert.Equal(JsonNode.Parse(DomainOverridesExample)!, (await s.Get("/api/v1/domains/1/overrides")).Json);
        JsonAssert.Equal(JsonNode.Parse(MailboxOverridesExample)!, (await s.Get("/api/v1/mailboxes/12/overrides")).Json);

        // The bulk resolver (the renderer's input) agrees with the single-row views.
        var all = ConfigStore.ResolveAll(s.Get<Db>());
        Assert.Equal(2, all.Domains.Count);
        Assert.Equal(12, all.Mailboxes.Count);
        JsonAssert.Equal(domain.Json, JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(all.Domains[0], AppJson.Api.DomainEffective))!);
        JsonAssert.Equal(mailbox.Json, JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(all.Mailboxes[11], AppJson.Api.MailboxEffective))!);
        Assert.Equal(26214400, all.Mailboxes[0].MessageSizeLimit); // other.example has no overrides: global cap
    }

    [Fact]
    public async Task TiersStartWithTheReferenceExampleValues()
    {
        await using var s = await TestServer.Start();
        foreach (var (path, example) in new[]
        {
            ("/api/v1/config/global", GlobalExample),
            ("/api/v1/config/domain-defaults", DomainDefaultsExample),
            ("/api/v1/config/mailbox-defaults", MailboxDefaultsExample),
        })
        {
            var r = await s.Get(path);
            r.AssertStatus(HttpStatusCode.OK);
            Assert.Matches(Timestamp, r.Json["updated_at"]!.GetValue<string>());
            var expected = JsonNode.Parse(example)!.AsObject();
            expected["updated_at"] = r.Json["updated_at"]!.GetValue<string>();
            JsonAssert.Equal(expected, r.Json);
        }
    }

    [Fact]
    public async Task PutGlobalReplacesTheRowIgnoringUpdatedAtAndAnswersTheNewObject()
    {
        await using var s = await TestServer.Start();
        var edited = JsonNode.Parse((await s.Get("/api/v1/config/global")).Body)!.AsObject();
        edited["message_size_limit"] = 52428800;
        edited["relay_networks"] = "  127.0.0.0/8   10.0.0.0/8 [::1]/128 ";
        edited["tls_min_version"] = "TLSv1.3";
        edited["spam_remote_host"] = "Spamd.Example.NET";
        edited["spam_remote_network"] = "192.0.2.0/24";
        edited["dnsbl_zones"] = "ZEN.spamhaus.org  bl.spamcop.net";
        edited["updated_at"] = "1999-01-01T00:00:00Z";
        var r = await s.Put("/api/v1/config/global", edited.ToJsonString());
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(52428800, r.Json["message_size_limit"]!.GetValue<long>());
        Assert.Equal("127.0.0.0/8 10.0.0.0/8 [::1]/128", r.Json["relay_networks"]!.GetValue<string>());
        Assert.Equal("spamd.example.net", r.Json["spam_remote_host"]!.GetValue<string>());
        Assert.Equal("zen.spamhaus.org bl.spamcop.net", r.Json["dnsbl_zones"]!.GetValue<string>());
        Assert.NotEqual("1999-01-01T00:00:00Z", r.Json["updated_at"]!.GetValue<string>());
        Assert.Matches(Timestamp, r.Json["updated_at"]!.GetValue<string>());
        JsonAssert.Equal(r.Json, (await s.Get("/api/v1/config/global")).Json);

        // updated_at may also be left out.
        (await s.Put("/api/v1/config/global", Without(GlobalExample, "updated_at").ToJsonString())).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(26214400, (await s.Get("/api/v1/config/global")).Json["message_size_limit"]!.GetValue<long>());
    }

    [Fact]
    public async Task PutDefaultsReplaceTheRowsAndNullablePointerFieldsAcceptNull()
    {
        await using var s = await TestServer.Start();
        var dd = With(With(DomainDefaultsExample, "message_size_limit", "10485760"), "spf_policy", "\"-all\"");
        var r = await s.Put("/api/v1/config/domain-defaults", dd);
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(10485760, r.Json["message_size_limit"]!.GetValue<long>());
        Assert.Equal("-all", r.Json["spf_policy"]!.GetValue<string>());
        JsonAssert.Equal(r.Json, (await s.Get("/api/v1/config/domain-defaults")).Json);
        r = await s.Put("/api/v1/config/domain-defaults", DomainDefaultsExample);
        Assert.Null(r.Json["message_size_limit"]);

        var md = JsonNode.Parse(MailboxDefaultsExample)!.AsObject();
        md["message_size_limit"] = 2048;
        md["spam_threshold"] = 6.5;
        md["spam_action"] = "quarantine";
        md["forward_to"] = "Archive@Example.COM,  boss@example.com";
        md["vacation_message"] = "Away\nback soon";
        r = await s.Put("/api/v1/config/mailbox-defaults", md.ToJsonString());
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(6.5, r.Json["spam_threshold"]!.GetValue<double>());
        Assert.Equal("quarantine", r.Json["spam_action"]!.GetValue<string>());
        Assert.Equal("Archive@example.com, boss@example.com", r.Json["forward_to"]!.GetValue<string>());
        JsonAssert.Equal(r.Json, (await s.Get("/api/v1/config/mailbox-defaults")).Json);
        r = await s.Put("/api/v1/config/mailbox-defaults", MailboxDefaultsExample);
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Null(r.Json["message_size_limit"]);
        Assert.Null(r.Json["spam_threshold"]);
        Assert.Null(r.Json["spam_action"]);
    }

    public static TheoryData<string, string> TierFields()
    {
        var data = new TheoryData<string, string>();
        foreach (var (path, example) in new[]
        {
            ("/api/v1/config/global", GlobalExample),
            ("/api/v1/config/domain-defaults", DomainDefaultsExample),
            ("/api/v1/config/mailbox-defaults", MailboxDefaultsExample),
        })
            foreach (var field in JsonNode.Parse(example)!.AsObject().Select(p => p.Key).Where(k => k != "updated_at"))
                data.Add(path, field);
        return data;
    }

    [Theory]
    [MemberData(nameof(TierFields))]
    public async Task PutOfATierWithAnyFieldMissingIsRejectedAndNothingIsWritten(string path, string field)
    {
        await using var s = await TestServer.Start();
        var before = (await s.Get(path)).Body;
        var body = Without((await s.Get(path)).Body, field);
        (await s.Put(path, body.ToJsonString())).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(before, (await s.Get(path)).Body);
    }

    [Theory]
    // global
    [InlineData("global", "message_size_limit", "1023", "message_size_limit")]
    [InlineData("global", "message_size_limit", "null", "message_size_limit")]
    [InlineData("global", "message_size_limit", "1125899906842625", "message_size_limit")]
    [InlineData("global", "message_size_limit", "\"26214400\"", "message_size_limit")]
    [InlineData("global", "message_size_limit", "2.5", "message_size_limit")]
    [InlineData("global", "max_smtpd_connections", "0", "max_smtpd_connections")]
    [InlineData("global", "max_smtpd_connections", "10000001", "max_smtpd_connections")]
    [InlineData("global", "max_smtpd_rate_per_min", "-1", "max_smtpd_rate_per_min")]
    [InlineData("global", "relay_networks", "\"\"", "relay_networks")]
    [InlineData("global", "relay_networks", "null", "relay_networks")]
    [InlineData("global", "relay_networks", "\"10.0.0.1/8\"", "relay_networks")]
    [InlineData("global", "relay_networks", "\"::1/128\"", "relay_networks")]
    [InlineData("global", "relay_networks", "\"127.0.0.0/8\\nsmtpd_banner\"", "relay_networks")]
    [InlineData("global", "tls_min_version", "\"TLSv1.1\"", "tls_min_version")]
    [InlineData("global", "tls_min_version", "\"tlsv1.2\"", "tls_min_version")]
    [InlineData("global", "cipher_policy", "\"low\"", "cipher_policy")]
    [InlineData("global", "spam_remote_host", "\"bad host\"", "spam_remote_host")]
    [InlineData("global", "spam_remote_host", "\"-x.example.com\"", "spam_remote_host")]
    [InlineData("global", "spam_remote_port", "0", "spam_remote_port")]
    [InlineData("global", "spam_remote_port", "65536", "spam_remote_port")]
    [InlineData("global", "spam_remote_network", "\"not-a-cidr\"", "spam_remote_network")]
    [InlineData("global", "dnsbl_enabled", "\"true\"", "dnsbl_enabled")]
    [InlineData("global", "dnsbl_enabled", "1", "dnsbl_enabled")]
    [InlineData("global", "dnsbl_zones", "\"zen.spamhaus.org bad_zone\"", "dnsbl_zones")]
    [InlineData("global", "greylist_delay_seconds", "-1", "greylist delay and max-age must be non-negative")]
    [InlineData("global", "greylist_max_age_days", "-1", "greylist delay and max-age must be non-negative")]
    [InlineData("global", "greylist_delay_seconds", "86401", "greylist_delay_seconds")]
    [InlineData("global", "greylist_max_age_days", "3651", "greylist_max_age_days")]
    // domain-defaults
    [InlineData("domain-defaults", "quota_total_bytes", "-1", "quota_total_bytes")]
    [InlineData("domain-defaults", "quota_total_bytes", "9223372036854775808", "quota_total_bytes")]
    [InlineData("domain-defaults", "max_mailboxes", "-5", "max_mailboxes")]
    [InlineData("domain-defaults", "max_aliases", "99999999999", "max_aliases")]
    [InlineData("domain-defaults", "message_size_limit", "0", "message_size_limit")]
    [InlineData("domain-defaults", "dkim_enabled", "null", "dkim_enabled")]
    [InlineData("domain-defaults", "spf_policy", "\"+all\"", "spf_policy")]
    [InlineData("domain-defaults", "spf_policy", "null", "spf_policy")]
    [InlineData("domain-defaults", "dmarc_policy", "\"strict\"", "dmarc_policy")]
    [InlineData("domain-defaults", "spam_threshold", "-0.5", "spam_threshold")]
    [InlineData("domain-defaults", "spam_threshold", "100.5", "spam_threshold")]
    [InlineData("domain-defaults", "spam_threshold", "1e400", "spam_threshold")]
    [InlineData("domain-defaults", "spam_action", "\"drop\"", "spam_action")]
    [InlineData("domain-defaults", "clamav_action", "\"ignore\"", "clamav_action")]
    // mailbox-defaults
    [InlineData("mailbox-defaults", "quota_bytes", "-1", "quota_bytes")]
    [InlineData("mailbox-defaults", "max_send_per_day", "-1", "max_send_per_day")]
    [InlineData("mailbox-defaults", "max_recipients_per_message", "10000001", "max_recipients_per_message")]
    [InlineData("mailbox-defaults", "message_size_limit", "100", "message_size_limit")]
    [InlineData("mailbox-defaults", "spam_threshold", "101", "spam_threshold")]
    [InlineData("mailbox-defaults", "spam_action", "\"delete\"", "spam_action")]
    [InlineData("mailbox-defaults", "auto_junk_threshold", "-1", "auto_junk_threshold")]
    [InlineData("mailbox-defaults", "auto_junk_threshold", "null", "auto_junk_threshold")]
    [InlineData("mailbox-defaults", "enabled_pop3", "\"no\"", "enabled_pop3")]
    [InlineData("mailbox-defaults", "vacation_message", "null", "vacation_message")]
    [InlineData("mailbox-defaults", "vacation_message", "\"bell\\u0007\"", "vacation_message")]
    [InlineData("mailbox-defaults", "forward_to", "null", "forward_to")]
    [InlineData("mailbox-defaults", "forward_to", "\"not-an-address\"", "forward_to")]
    [InlineData("mailbox-defaults", "forward_to", "\"a@example.com, \"", "forward_to")]
    public async Task InvalidTierValueIsRejectedNamingTheFieldAndNothingIsWritten(string tier, string field, string rawValue, string mentioned)
    {
        await using var s = await TestServer.Start();
        var path = "/api/v1/config/" + tier;
        var before = (await s.Get(path)).Body;
        var r = await s.Put(path, With(before, field, rawValue));
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Contains(mentioned, r.Json["error"]!.GetValue<string>() + " " + r.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(before, (await s.Get(path)).Body);
    }

    [Fact]
    public async Task AForwardingLoopIsRefusedThroughOverridesDefaultsAndAliasesAndNothingIsWritten()
    {
        await using var s = await TestServer.Start();
        var d = await s.CreateDomain("loop.example");
        var a = await s.CreateMailbox(d, "a");
        var b = await s.CreateMailbox(d, "b");
        (await s.Put($"/api/v1/mailboxes/{a}/overrides", """{"forward_to":"b@loop.example"}""")).AssertStatus(HttpStatusCode.OK);
        // b -> a closes a -> b -> a.
        var loop = await s.Put($"/api/v1/mailboxes/{b}/overrides", """{"forward_to":"elsewhere@other.example, A@loop.example"}""");
        loop.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal("forward_to would make a forwarding loop", loop.Json["error"]!.GetValue<string>());
        Assert.Equal("a@loop.example -> b@loop.example -> a@loop.example", loop.Json["detail"]!.GetValue<string>());
        Assert.Null((await s.Get($"/api/v1/mailboxes/{b}/overrides")).Json["forward_to"]);
        // A copy kept (the address maps to itself) is a delivery, not a loop.
        (await s.Put($"/api/v1/mailboxes/{b}/overrides", """{"forward_to":"b@loop.example, elsewhere@other.example","forward_keep_copy":true}""")).AssertStatus(HttpStatusCode.OK);

        // Through an alias: b -> team -> a -> b.
        (await s.Post("/api/v1/aliases", """{"source":"team@loop.example","destination":"a@loop.example"}""")).AssertStatus(HttpStatusCode.Created);
        (await s.Put($"/api/v1/mailboxes/{b}/overrides", """{"forward_to":"team@loop.example"}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        // An alias that closes one: a -> b -> list -> a.
        (await s.Put($"/api/v1/mailboxes/{b}/overrides", """{"forward_to":"list@loop.example"}""")).AssertStatus(HttpStatusCode.OK);
        var alias = await s.Post("/api/v1/aliases", """{"source":"list@loop.example","destination":"a@loop.example"}""");
        alias.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal("a@loop.example -> b@loop.example -> list@loop.example -> a@loop.example", alias.Json["detail"]!.GetValue<string>());
        Assert.DoesNotContain("list@loop.example", (await s.Get("/api/v1/aliases")).Body, StringComparison.Ordinal);
        // The defaults' forward_to reaches every mailbox without an override: c -> team -> a -> b -> list ends, so it is fine...
        await s.CreateMailbox(d, "c");
        var md = (await s.Get("/api/v1/config/mailbox-defaults")).Json.AsObject();
        md["forward_to"] = "team@loop.example";
        (await s.Put("/api/v1/config/mailbox-defaults", md.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        // ... until b drops its override and inherits it: b -> team -> a -> b.
        var inherit = await s.Put($"/api/v1/mailboxes/{b}/overrides", "{}");
        inherit.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal("a@loop.example -> b@loop.example -> team@loop.example -> a@loop.example", inherit.Json["detail"]!.GetValue<string>());
        Assert.Equal("list@loop.example", (await s.Get($"/api/v1/mailboxes/{b}/overrides")).Json["forward_to"]!.GetValue<string>());
    }

    [Fact]
    public async Task AVacationMessageOf100KbIsRefusedOnAMailboxAndNothingIsWritten()
    {
        await using var s = await TestServer.Start();
        var d = await s.CreateDomain("away.example");
        var m = await s.CreateMailbox(d, "away");
        var r = await s.Put($"/api/v1/mailboxes/{m}/overrides", $$"""{"vacation_enabled":true,"vacation_message":"{{new string('x', 100 * 1024)}}"}""");
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Contains("vacation_message", r.Json["error"]!.GetValue<string>(), StringComparison.Ordinal);
        var stored = (await s.Get($"/api/v1/mailboxes/{m}/overrides")).Json;
        Assert.Null(stored["vacation_enabled"]);
        Assert.Null(stored["vacation_message"]);
    }

    [Fact]
    public async Task LongVacationMessageIsRejectedAndTheLimitIsAccepted()
    {
        await using var s = await TestServer.Start();
        var path = "/api/v1/config/mailbox-defaults";
        var r = await s.Put(path, With(MailboxDefaultsExample, "vacation_message", $"\"{new string('x', 10_001)}\""));
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Contains("vacation_message", r.Json["error"]!.GetValue<string>(), StringComparison.Ordinal);
        (await s.Put(path, With(MailboxDefaultsExample, "vacation_message", $"\"{new string('x', 10_000)}\""))).AssertStatus(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("not json")]
    [InlineData("""{"message_size_limit":1}""")]
    public async Task MalformedTierBodiesAreRejected(string body)
    {
        await using var s = await TestServer.Start();
        foreach (var tier in new[] { "global", "domain-defaults", "mailbox-defaults" })
            (await s.Put("/api/v1/config/" + tier, body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task UnknownAndDuplicateFieldsInATierAreRejected()
    {
        await using var s = await TestServer.Start();
        var r = await s.Put("/api/v1/config/global", With(GlobalExample, "message_size_limt", "1"));
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Contains("message_size_limt", r.Json["error"]!.GetValue<string>(), StringComparison.Ordinal);
        var duplicate = GlobalExample.Replace("\"cipher_policy\":           \"high\",", "\"cipher_policy\": \"high\", \"cipher_policy\": \"medium\",", StringComparison.Ordinal);
        (await s.Put("/api/v1/config/global", duplicate)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal("high", (await s.Get("/api/v1/config/global")).Json["cipher_policy"]!.GetValue<string>());
    }

    [Fact]
    public async Task DomainOverridesStartEmptyAndAPutReplacesTheWholeRow()
    {
        await using var s = await TestServer.Start();
        var id = await s.CreateDomain("example.com");
        var empty = await s.Get($"/api/v1/domains/{id}/overrides");
        empty.AssertStatus(HttpStatusCode.OK);
        var keys = JsonNode.Parse(DomainOverridesExample)!.AsObject().Select(p => p.Key).ToArray();
        Assert.Equal(keys, empty.Json.AsObject().Select(p => p.Key));
        Assert.All(empty.Json.AsObject(), p => Assert.Null(p.Value));

        // The reference's curl example: only the fields to set.
        var r = await s.Put($"/api/v1/domains/{id}/overrides", """{"dmarc_policy":"reject","require_tls_inbound":true}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(keys, r.Json.AsObject().Select(p => p.Key));
        Assert.Equal("reject", r.Json["dmarc_policy"]!.GetValue<string>());
        Assert.True(r.Json["require_tls_inbound"]!.GetValue<bool>());
        Assert.Null(r.Json["spam_threshold"]);
        JsonAssert.Equal(r.Json, (await s.Get($"/api/v1/domains/{id}/overrides")).Json);
        Assert.Equal("reject", (await s.Get($"/api/v1/domains/{id}/effective")).Json["dmarc_policy"]!.GetValue<string>());

        // Omitted fields revert to inheritance.
        r = await s.Put($"/api/v1/domains/{id}/overrides", """{"spam_threshold":8.5,"dkim_enabled":false}""");
        Assert.Null(r.Json["dmarc_policy"]);
        Assert.Null(r.Json["require_tls_inbound"]);
        var effective = (await s.Get($"/api/v1/domains/{id}/effective")).Json;
        Assert.Equal("none", effective["dmarc_policy"]!.GetValue<string>());
        Assert.Equal(8.5, effective["spam_threshold"]!.GetValue<double>());
        Assert.False(effective["dkim_enabled"]!.GetValue<bool>());

        // {} clears every override.
        r = await s.Put($"/api/v1/domains/{id}/overrides", "{}");
        Assert.All(r.Json.AsObject(), p => Assert.Null(p.Value));
    }

    [Theory]
    [InlineData("""{"quota_total_bytes":-1}""")]
    [InlineData("""{"max_mailboxes":-1}""")]
    [InlineData("""{"message_size_limit":10}""")]
    [InlineData("""{"spf_policy":"all"}""")]
    [InlineData("""{"dmarc_policy":"REJECT"}""")]
    [InlineData("""{"spam_threshold":1000}""")]
    [InlineData("""{"spam_action":"bounce"}""")]
    [InlineData("""{"clamav_action":""}""")]
    [InlineData("""{"dkim_enabled":"yes"}""")]
    [InlineData("""{"outgoing_ip":"203.0.113.10"}""")]
    [InlineData("""{"quota_total_bytes":1.5}""")]
    [InlineData("""[]""")]
    public async Task InvalidDomainOverridesAreRejectedAndNothingIsWritten(string body)
    {
        await using var s = await TestServer.Start();
        var id = await s.CreateDomain("example.com");
        (await s.Put($"/api/v1/domains/{id}/overrides", """{"max_aliases":7}""")).AssertStatus(HttpStatusCode.OK);
        (await s.Put($"/api/v1/domains/{id}/overrides", body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(7, (await s.Get($"/api/v1/domains/{id}/overrides")).Json["max_aliases"]!.GetValue<long>());
    }

    [Fact]
    public async Task DomainRoutesAnswer404ForAMissingDomainAnd400ForABadId()
    {
        await using var s = await TestServer.Start();
        foreach (var path in new[] { "/api/v1/domains/999/overrides", "/api/v1/domains/999/effective" })
        {
            var r = await s.Get(path);
            r.AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
            Assert.Equal("domain not found", r.Json["error"]!.GetValue<string>());
        }
        (await s.Put("/api/v1/domains/999/overrides", """{"max_aliases":1}""")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        foreach (var bad in new[] { "0", "-1", "abc", "1.5", "99999999999999999999" })
        {
            (await s.Get($"/api/v1/domains/{bad}/overrides")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
            (await s.Get($"/api/v1/domains/{bad}/effective")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
            (await s.Put($"/api/v1/domains/{bad}/overrides", "{}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        }
        using var c = s.Get<Db>().Open();
        Assert.Equal(0, c.Command("SELECT COUNT(*) FROM domain_overrides").Scalar());
    }

    [Fact]
    public async Task EffectiveDomainCascadesMessageSizeToGlobalAndFollowsTheDomainRow()
    {
        await using var s = await TestServer.Start();
        var id = await s.CreateDomain("example.com", "198.51.100.7");
        var e = (await s.Get($"/api/v1/domains/{id}/effective")).Json;
        Assert.Equal(
            ["domain_id", "domain_name", "outgoing_ip", "quota_total_bytes", "max_mailboxes", "max_aliases", "message_size_limit",
             "dkim_enabled", "spf_policy", "dmarc_policy", "spam_threshold", "spam_action", "clamav_action",
             "greylisting_enabled", "require_tls_inbound", "active"],
            e.AsObject().Select(p => p.Key));
        Assert.Equal(26214400, e["message_size_limit"]!.GetValue<long>()); // override null, defaults null -> global
        Assert.Equal("198.51.100.7", e["outgoing_ip"]!.GetValue<string>());

        (await s.Put("/api/v1/config/global", With(GlobalExample, "message_size_limit", "30000000"))).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(30000000, (await s.Get($"/api/v1/domains/{id}/effective")).Json["message_size_limit"]!.GetValue<long>());
        (await s.Put("/api/v1/config/domain-defaults", With(DomainDefaultsExample, "message_size_limit", "20000000"))).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(20000000, (await s.Get($"/api/v1/domains/{id}/effective")).Json["message_size_limit"]!.GetValue<long>());
        (await s.Put($"/api/v1/domains/{id}/overrides", """{"message_size_limit":10000000}""")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(10000000, (await s.Get($"/api/v1/domains/{id}/effective")).Json["message_size_limit"]!.GetValue<long>());

        (await s.Patch($"/api/v1/domains/{id}", """{"active":false}""")).AssertStatus(HttpStatusCode.OK);
        Assert.False((await s.Get($"/api/v1/domains/{id}/effective")).Json["active"]!.GetValue<bool>());
    }

    [Fact]
    public async Task MailboxOverridesStartEmptyAndAPutReplacesTheWholeRow()
    {
        await using var s = await TestServer.Start();
        var domain = await s.CreateDomain("example.com");
        var id = SeedMailbox(s, domain, "alice");
        var empty = await s.Get($"/api/v1/mailboxes/{id}/overrides");
        empty.AssertStatus(HttpStatusCode.OK);
        var keys = JsonNode.Parse(MailboxOverridesExample)!.AsObject().Select(p => p.Key).ToArray();
        Assert.Equal(keys, empty.Json.AsObject().Select(p => p.Key));
        Assert.All(empty.Json.AsObject(), p => Assert.Null(p.Value));

        var r = await s.Put($"/api/v1/mailboxes/{id}/overrides", """{"max_send_per_day":5000,"require_tls_client":true,"forward_to":"Bob@Example.ORG"}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(keys, r.Json.AsObject().Select(p => p.Key));
        Assert.Equal("Bob@example.org", r.Json["forward_to"]!.GetValue<string>());
        JsonAssert.Equal(r.Json, (await s.Get($"/api/v1/mailboxes/{id}/overrides")).Json);
        var e = (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json;
        Assert.Equal(5000, e["max_send_per_day"]!.GetValue<long>());
        Assert.True(e["require_tls_client"]!.GetValue<bool>());
        Assert.Equal("Bob@example.org", e["forward_to"]!.GetValue<string>());

        r = await s.Put($"/api/v1/mailboxes/{id}/overrides", """{"forward_to":"","max_send_per_day":null}""");
        Assert.Equal("", r.Json["forward_to"]!.GetValue<string>());
        Assert.Null(r.Json["max_send_per_day"]);
        e = (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json;
        Assert.Equal(1000, e["max_send_per_day"]!.GetValue<long>());
        Assert.False(e["require_tls_client"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("""{"max_send_per_day":-1}""")]
    [InlineData("""{"max_recipients_per_message":10000001}""")]
    [InlineData("""{"message_size_limit":1023}""")]
    [InlineData("""{"spam_threshold":-1}""")]
    [InlineData("""{"spam_action":"discard"}""")]
    [InlineData("""{"auto_junk_threshold":101}""")]
    [InlineData("""{"forward_to":"nobody"}""")]
    [InlineData("""{"vacation_message":"a\u0000b"}""")]
    [InlineData("""{"enabled_imap":0}""")]
    [InlineData("""{"quota_bytes":1}""")]
    [InlineData("""{"clamav_action":"tag"}""")]
    public async Task InvalidMailboxOverridesAreRejectedAndNothingIsWritten(string body)
    {
        await using var s = await TestServer.Start();
        var id = SeedMailbox(s, await s.CreateDomain("example.com"), "alice");
        (await s.Put($"/api/v1/mailboxes/{id}/overrides", body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        using var c = s.Get<Db>().Open();
        Assert.Equal(0, c.Command("SELECT COUNT(*) FROM mailbox_overrides").Scalar());
    }

    [Fact]
    public async Task MailboxRoutesAnswer404ForAMissingMailboxAnd400ForABadId()
    {
        await using var s = await TestServer.Start();
        foreach (var path in new[] { "/api/v1/mailboxes/999/overrides", "/api/v1/mailboxes/999/effective" })
        {
            var r = await s.Get(path);
            r.AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
            Assert.Equal("mailbox not found", r.Json["error"]!.GetValue<string>());
        }
        (await s.Put("/api/v1/mailboxes/999/overrides", """{"enabled_pop3":true}""")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        foreach (var bad in new[] { "0", "x", "-3", "9223372036854775808" })
        {
            (await s.Get($"/api/v1/mailboxes/{bad}/overrides")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
            (await s.Get($"/api/v1/mailboxes/{bad}/effective")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
            (await s.Put($"/api/v1/mailboxes/{bad}/overrides", "{}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        }
    }

    [Fact]
    public async Task EffectiveMailboxQuotaAndSpamFieldsCascadeThroughTheTiers()
    {
        await using var s = await TestServer.Start();
        var domain = await s.CreateDomain("example.com");
        var id = SeedMailbox(s, domain, "bob", quota: 0, active: false);
        var e = (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json;
        Assert.Equal(JsonNode.Parse(MailboxEffectiveExample)!.AsObject().Select(p => p.Key), e.AsObject().Select(p => p.Key));
        Assert.Equal(1073741824, e["quota_bytes"]!.GetValue<long>()); // row quota 0 -> mailbox_defaults
        Assert.False(e["mailbox_active"]!.GetValue<bool>());
        Assert.True(e["domain_active"]!.GetValue<bool>());
        Assert.Equal(26214400, e["message_size_limit"]!.GetValue<long>()); // -> domain effective -> global
        Assert.Equal(5.0, e["spam_threshold"]!.GetValue<double>());

        // Domain-level values reach the mailbox while the mailbox tiers are null...
        (await s.Put($"/api/v1/domains/{domain}/overrides", """{"spam_threshold":9,"spam_action":"reject","clamav_action":"reject","message_size_limit":4096}""")).AssertStatus(HttpStatusCode.OK);
        e = (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json;
        Assert.Equal(9.0, e["spam_threshold"]!.GetValue<double>());
        Assert.Equal("reject", e["spam_action"]!.GetValue<string>());
        Assert.Equal("reject", e["clamav_action"]!.GetValue<string>());
        Assert.Equal(4096, e["message_size_limit"]!.GetValue<long>());

        // ...mailbox_defaults win over them, and mailbox overrides over those.
        var md = JsonNode.Parse(MailboxDefaultsExample)!.AsObject();
        md["spam_threshold"] = 3;
        md["quota_bytes"] = 0;
        (await s.Put("/api/v1/config/mailbox-defaults", md.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        e = (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json;
        Assert.Equal(3.0, e["spam_threshold"]!.GetValue<double>());
        Assert.Equal(0, e["quota_bytes"]!.GetValue<long>()); // 0 = unlimited
        (await s.Put($"/api/v1/mailboxes/{id}/overrides", """{"spam_threshold":4.5,"spam_action":"tag"}""")).AssertStatus(HttpStatusCode.OK);
        e = (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json;
        Assert.Equal(4.5, e["spam_threshold"]!.GetValue<double>());
        Assert.Equal("tag", e["spam_action"]!.GetValue<string>());

        // A quota on the mailbox row itself wins over the defaults.
        using (var c = s.Get<Db>().Open())
            c.Command("UPDATE mailboxes SET quota = 5000 WHERE id = $id", ("$id", id)).ExecuteNonQuery();
        Assert.Equal(5000, (await s.Get($"/api/v1/mailboxes/{id}/effective")).Json["quota_bytes"]!.GetValue<long>());
    }

    [Fact]
    public async Task OverridesGoWithTheirDomainAndMailbox()
    {
        await using var s = await TestServer.Start();
        var domain = await s.CreateDomain("example.com");
        var id = SeedMailbox(s, domain, "alice");
        (await s.Put($"/api/v1/domains/{domain}/overrides", """{"max_aliases":3}""")).AssertStatus(HttpStatusCode.OK);
        (await s.Put($"/api/v1/mailboxes/{id}/overrides", """{"enabled_pop3":true}""")).AssertStatus(HttpStatusCode.OK);
        (await s.Delete($"/api/v1/domains/{domain}")).AssertStatus(HttpStatusCode.OK);
        using var c = s.Get<Db>().Open();
        Assert.Equal(0, c.Command("SELECT COUNT(*) FROM domain_overrides").Scalar());
        Assert.Equal(0, c.Command("SELECT COUNT(*) FROM mailbox_overrides").Scalar());
    }

    [Fact]
    public async Task EveryConfigWriteRequestsAReconcile()
    {
        await using var s = await TestServer.Start();
        var domain = await s.CreateDomain("example.com");
        var mailbox = SeedMailbox(s, domain, "alice");
        var reconciler = s.Get<Reconciler>();
        foreach (var (path, body) in new[]
        {
            ("/api/v1/config/global", GlobalExample),
            ("/api/v1/config/domain-defaults", DomainDefaultsExample),
            ("/api/v1/config/mailbox-defaults", MailboxDefaultsExample),
            ($"/api/v1/domains/{domain}/overrides", DomainOverridesExample),
            ($"/api/v1/mailboxes/{mailbox}/overrides", MailboxOverridesExample),
        })
        {
            await WaitForIdle(reconciler);
            var before = reconciler.Applies;
            (await s.Put(path, body)).AssertStatus(HttpStatusCode.OK);
            await JsonAssert.Eventually(() => reconciler.Applies > before, path);
        }
    }

    /// <summary>Lets earlier requests' applies run, so a count taken now moves only for the next write.</summary>
    internal static async Task WaitForIdle(Reconciler reconciler)
    {
        var last = -1L;
        while (reconciler.Applies != last)
        {
            last = reconciler.Applies;
            await Task.Delay(100);
        }
    }
}

/// <summary>JSON comparison for the reference's examples: same keys in the same order, numbers compared numerically (5.0 == 5).</summary>
internal static class JsonAssert
{
    public static void Equal(JsonNode? expected, JsonNode? actual, string path = "$")
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual?.ToJsonString()}");
                return;
            case JsonObject o:
                Assert.True(actual is JsonObject, $"{path}: expected an object, got {actual?.ToJsonString()}");
                var a = actual!.AsObject();
                Assert.Equal(o.Select(p => p.Key), a.Select(p => p.Key));
                foreach (var (key, value) in o) Equal(value, a[key], $"{path}.{key}");
                return;
            case JsonArray arr:
                Assert.True(actual is JsonArray, $"{path}: expected an array, got {actual?.ToJsonString()}");
                Assert.Equal(arr.Count, actual!.AsArray().Count);
                for (var i = 0; i < arr.Count; i++) Equal(arr[i], actual.AsArray()[i], $"{path}[{i}]");
                return;
            default:
                Assert.True(actual is JsonValue, $"{path}: expected {expected.ToJsonString()}, got {actual?.ToJsonString()}");
                var e = expected.AsValue();
                if (e.GetValueKind() == System.Text.Json.JsonValueKind.Number)
                {
                    Assert.True(actual!.GetValueKind() == System.Text.Json.JsonValueKind.Number, $"{path}: expected a number, got {actual.ToJsonString()}");
                    Assert.True(e.GetValue<decimal>() == actual.AsValue().GetValue<decimal>(), $"{path}: expected {e.ToJsonString()}, got {actual.ToJsonString()}");
                }
                else
                {
                    Assert.True(e.ToJsonString() == actual!.ToJsonString(), $"{path}: expected {e.ToJsonString()}, got {actual.ToJsonString()}");
                }
                return;
        }
    }

    public static async Task Eventually(Func<bool> condition, string what)
    {
        // A poll, not a timing assertion: the deadline is generous because a loaded CI machine is slow.
        for (var i = 0; i < 1200 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), $"timed out waiting: {what}");
    }
}
