using System.Net;

namespace MailPanel.Tests;

/// <summary>The policy service's answers without the mail stack: the daily count survives a restart of the daemon.</summary>
public class PolicyRulesTests
{
    static Dictionary<string, string> Request(string state, string instance) => new()
    {
        ["protocol_state"] = state,
        ["sasl_username"] = "sam@caps.example",
        ["recipient"] = "x@elsewhere.example",
        ["instance"] = instance,
    };

    [Fact]
    public async Task TheDailySendCountIsKeptAcrossADaemonRestart()
    {
        var dataDir = Directory.CreateTempSubdirectory("mailpanel-policy-").FullName;
        await using (var first = await TestServer.Start(extra: $"DATA_DIR={dataDir}"))
        {
            var d = await first.CreateDomain("caps.example");
            var sam = await first.CreateMailbox(d, "sam");
            (await first.Put($"/api/v1/mailboxes/{sam}/overrides", """{"max_send_per_day":2}""")).AssertStatus(HttpStatusCode.OK);
            var policy = first.Get<MailPanel.Rules.PolicyRules>();
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal("DUNNO", await policy.Decide(Request("RCPT", $"m{i}")));
                Assert.Equal("DUNNO", await policy.Decide(Request("END-OF-MESSAGE", $"m{i}")));
            }
            Assert.StartsWith("550 5.7.1 Daily sending limit reached", await policy.Decide(Request("RCPT", "m2")), StringComparison.Ordinal);
        }
        // A new daemon on the same database: the count is read from SQLite, not from the old process.
        await using var second = await TestServer.Start(extra: $"DATA_DIR={dataDir}");
        Assert.StartsWith("550 5.7.1 Daily sending limit reached: sam@caps.example may send 2 messages per day (UTC)",
            await second.Get<MailPanel.Rules.PolicyRules>().Decide(Request("RCPT", "m3")), StringComparison.Ordinal);
        Directory.Delete(dataDir, recursive: true);
    }

    static Dictionary<string, string> Inbound(string client, string sender) => new()
    {
        ["protocol_state"] = "RCPT",
        ["client_address"] = client,
        ["sender"] = sender,
        ["recipient"] = "gus@grey.example",
        ["instance"] = client,
    };

    [Fact]
    public async Task ClientsInRelayNetworksAreNeverGreylisted()
    {
        await using var s = await TestServer.Start();
        var d = await s.CreateDomain("grey.example");
        await s.CreateMailbox(d, "gus");
        (await s.Put($"/api/v1/domains/{d}/overrides", """{"greylisting_enabled":true}""")).AssertStatus(HttpStatusCode.OK);
        var antispam = (await s.Get("/api/v1/config/antispam")).Json.AsObject();
        antispam["greylist_enabled"] = true;
        (await s.Put("/api/v1/config/antispam", antispam.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        var global = (await s.Get("/api/v1/config/global")).Json.AsObject();
        global["relay_networks"] = "127.0.0.1/32 192.0.2.0/24 [2001:db8::]/32";
        (await s.Put("/api/v1/config/global", global.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        var policy = s.Get<MailPanel.Rules.PolicyRules>();

        // The host itself (a webmail, Sieve vacation replies over SMTP) and the other relay networks: DUNNO at once.
        foreach (var client in new[] { "127.0.0.1", "192.0.2.44", "2001:db8::25", "::ffff:192.0.2.45" })
            Assert.Equal("DUNNO", await policy.Decide(Inbound(client, "web@grey.example")));
        // Just outside them: greylisted.
        foreach (var client in new[] { "127.0.0.2", "192.0.3.44", "2001:db9::25" })
            Assert.StartsWith("DEFER_IF_PERMIT 4.7.1 Greylisted", await policy.Decide(Inbound(client, "web@grey.example")), StringComparison.Ordinal);
    }
}
