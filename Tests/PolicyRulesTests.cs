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
}
