using System.Net;
using System.Text.RegularExpressions;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// Scenario 6 of issue 3 and the status routes on the real Postfix + Dovecot of <see cref="MailStackFixture"/>:
/// a deferred message in GET /postfix/queue, flush, delete by id; stats count what was submitted and delivered;
/// status follows the daemons.
/// </summary>
[Collection(MailStackCollection.Name)]
public partial class QueueStatsTests(MailStackFixture stack)
{
    TestServer S => stack.Server;

    /// <summary>A resolvable-looking destination routed to a closed loopback port: mail to it stays deferred.</summary>
    const string DeadDomain = "deadhost.test";

    [GeneratedRegex(@"queued as ([0-9A-Za-z]+)")]
    private static partial Regex QueuedAs();

    string PostfixLog => S.Get<MailPaths>().PostfixLog;

    int LogLines(string containing) =>
        File.Exists(PostfixLog) ? File.ReadLines(PostfixLog).Count(l => l.Contains(containing, StringComparison.Ordinal)) : 0;

    async Task<System.Text.Json.Nodes.JsonObject?> Queued(string queueId)
    {
        var r = await S.Get("/api/v1/postfix/queue?limit=500");
        r.AssertStatus(HttpStatusCode.OK);
        return r.Json["data"]!.AsArray().Select(m => m!.AsObject()).FirstOrDefault(m => (string?)m["queue_id"] == queueId);
    }

    [MailStackFact]
    public async Task MailToAnUnreachableRemoteIsDeferredListedFlushedAndDeletedById()
    {
        stack.Stack.TestTransport = [$"{DeadDomain} smtp:[127.0.0.1]:1"];
        await stack.Reconcile();
        // transport_maps is read by trivial-rewrite, a long-lived daemon that notices a replaced map only
        // after serving its next request: without a reload the first message could still be routed by DNS
        // (deadhost.test: NXDOMAIN, bounced at once).
        var reload = await MailPanel.Sys.Run.Exec("postfix", ["-c", stack.PostfixDir, "reload"]);
        Assert.True(reload.Ok, reload.Describe("postfix reload"));

        // 127.0.0.1 is in relay_networks, so the remote recipient is accepted for relay.
        var sent = await stack.Swaks($"user@{DeadDomain}", from: "ops@outside.test", subject: "deferred-one");
        Assert.True(sent.Ok, sent.Stdout + sent.Stderr);
        var id = QueuedAs().Match(sent.Stdout).Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(id), sent.Stdout);

        System.Text.Json.Nodes.JsonObject? message = null;
        try
        {
            await stack.WaitUntil(async () =>
            {
                message = await Queued(id);
                return (string?)message?["queue_name"] == "deferred";
            }, $"{id} deferred in GET /postfix/queue");
        }
        catch (TimeoutException)
        {
            var log = string.Join('\n', File.ReadLines(PostfixLog).Where(l => l.Contains(id, StringComparison.Ordinal)));
            throw new TimeoutException($"{id} not deferred; queue: {await S.Get("/api/v1/postfix/queue")}; log:\n{log}");
        }
        Assert.NotNull(message);
        Assert.Equal(["arrival_time", "message_size", "queue_id", "queue_name", "recipients", "sender"], message.Select(p => p.Key).Order());
        Assert.Equal("ops@outside.test", (string?)message["sender"]);
        Assert.InRange((long)message["arrival_time"]!, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 120, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        Assert.True((long)message["message_size"]! > 0);
        var recipient = Assert.Single(message["recipients"]!.AsArray())!;
        Assert.Equal($"user@{DeadDomain}", (string?)recipient["address"]);
        Assert.Contains("Connection refused", (string?)recipient["delay_reason"]);

        // Flush: an immediate new delivery attempt, seen as one more status=deferred line for the id.
        var attempts = LogLines($"{id}: to=<user@{DeadDomain}>");
        var flush = await S.Post("/api/v1/postfix/flush");
        flush.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"queue flushed"}""", flush.Json.ToJsonString());
        await stack.WaitUntil(() => Task.FromResult(LogLines($"{id}: to=<user@{DeadDomain}>") > attempts), "a new delivery attempt after flush");

        // Bad ids never reach postsuper; the message is still there.
        (await S.Post("/api/v1/postfix/queue/delete", """{"message_id":"ALL"}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await S.Post("/api/v1/postfix/queue/delete", "{}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.NotNull(await Queued(id));

        var delete = await S.Post("/api/v1/postfix/queue/delete", $$"""{"message_id":"{{id}}"}""");
        delete.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"message deleted"}""", delete.Json.ToJsonString());
        Assert.Null(await Queued(id));

        // Gone: postsuper deletes nothing, which the reference files under 500.
        var again = await S.Post("/api/v1/postfix/queue/delete", $$"""{"message_id":"{{id}}"}""");
        again.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Contains("Deleted: 0 messages", (string?)again.Json["detail"]);
    }

    async Task<MailCounts> Stats()
    {
        S.Get<MailStats>().Forget();
        var j = (await S.Get("/api/v1/stats/mail")).Json;
        return new MailCounts((long)j["sent_1h"]!, (long)j["sent_24h"]!, (long)j["recv_1h"]!, (long)j["recv_24h"]!);
    }

    [MailStackFact]
    public async Task StatsCountAuthenticatedSubmissionsAndDeliveriesButNotFailedLogins()
    {
        var d = await S.CreateDomain("stats.test");
        await S.CreateMailbox(d, "ann", "Ann-pass-1");
        await S.CreateMailbox(d, "ben", "Ben-pass-1");
        await stack.Reconcile();
        var before = await Stats();
        Assert.Equal("file:" + PostfixLog, S.Get<MailStats>().LastSource);

        // 1 authenticated submission, delivered locally: sent +1, recv +1.
        var submitted = await stack.Swaks("ben@stats.test", from: "ann@stats.test", subject: "stats-submitted", submission: true,
            authUser: "ann@stats.test", authPassword: "Ann-pass-1");
        Assert.True(submitted.Ok, submitted.Stdout + submitted.Stderr);
        // Inbound on port 25 to two mailboxes: recv +2, sent +0.
        var inbound = await stack.Swaks("ann@stats.test,ben@stats.test", subject: "stats-inbound");
        Assert.True(inbound.Ok, inbound.Stdout + inbound.Stderr);
        // A failed login logs sasl_username= too: sent +0.
        var refused = await stack.Swaks("ben@stats.test", from: "ann@stats.test", submission: true,
            authUser: "ann@stats.test", authPassword: "wrong-password", source: stack.FreshSource());
        Assert.False(refused.Ok);
        Assert.Contains("535", refused.Stdout + refused.Stderr);

        var expected = before with
        {
            Sent1h = before.Sent1h + 1,
            Sent24h = before.Sent24h + 1,
            Recv1h = before.Recv1h + 3,
            Recv24h = before.Recv24h + 3,
        };
        MailCounts now = before;
        await stack.WaitUntil(async () => (now = await Stats()) == expected || now.Recv1h > expected.Recv1h, "the deliveries in the log");
        Assert.Equal(expected, now);
        Assert.True(LogLines("SASL PLAIN authentication failed") > 0, "the failed login is in the log, and was not counted");
    }

    [MailStackFact]
    public async Task StatusFollowsTheRealDaemons()
    {
        var postfix = await S.Get("/api/v1/postfix/status");
        Assert.Equal("""{"name":"postfix","status":"running","message":""}""", postfix.Json.ToJsonString());
        var dovecot = await S.Get("/api/v1/dovecot/status");
        Assert.Equal("""{"name":"dovecot","status":"running","message":""}""", dovecot.Json.ToJsonString());

        var stop = await MailPanel.Sys.Run.Exec("postfix", ["-c", stack.PostfixDir, "stop"]);
        Assert.True(stop.Ok, stop.Describe("postfix stop"));
        try
        {
            Response stopped = postfix;
            await stack.WaitUntil(async () => (string?)(stopped = await S.Get("/api/v1/postfix/status")).Json["status"] == "stopped", "postfix stopped");
            Assert.Contains("is not running", (string?)stopped.Json["message"]);
            Assert.Equal("running", (string?)(await S.Get("/api/v1/dovecot/status")).Json["status"]);
            using var anonymous = S.Anonymous();
            var health = await TestServer.Send(anonymous, HttpMethod.Get, "/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.Status);
            Assert.Equal("down", (string?)health.Json["checks"]!["postfix"]!["status"]);
            // flush needs the master; listing reads the queue files directly
            (await S.Post("/api/v1/postfix/flush")).AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
            (await S.Get("/api/v1/postfix/queue")).AssertStatus(HttpStatusCode.OK);
        }
        finally
        {
            // stdio on /dev/null, as the fixture starts it: the forked master must not hold the runner's pipes
            var start = await MailPanel.Sys.Run.Exec("sh", ["-c", "exec \"$@\" </dev/null >/dev/null 2>&1", "sh", "postfix", "-c", stack.PostfixDir, "start"]);
            Assert.True(start.Ok, start.Describe("postfix start"));
        }
        await stack.WaitUntil(async () => (string?)(await S.Get("/api/v1/postfix/status")).Json["status"] == "running", "postfix running again");
        // the other tests of the collection need SMTP back
        await stack.WaitUntil(() => Task.FromResult(Listening(stack.SmtpPort) && Listening(stack.SubmissionPort)), "postfix listening again");
    }

    static bool Listening(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
