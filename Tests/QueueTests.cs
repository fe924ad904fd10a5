using System.Net;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

/// <summary>Fake mail-stack tools in a temp bin dir that the server looks in instead of the fixed PATH.</summary>
internal static class FakeTools
{
    /// <summary>Points the server's tool lookup at an empty bin dir of its own and returns it.</summary>
    public static string Bin(TestServer s)
    {
        var bin = Path.Combine(s.Dir, "bin");
        Directory.CreateDirectory(bin);
        var services = s.Get<Services>();
        services.SearchPath = bin;
        services.Forget();
        return bin;
    }

    /// <summary>A /bin/sh script; every call appends its arguments to NAME.calls beside it.</summary>
    public static void Script(string bin, string name, string body)
    {
        var path = Path.Combine(bin, name);
        File.WriteAllText(path, $"#!/bin/sh\necho \"$*\" >> '{path}.calls'\n{body}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>The argument lines of every call so far.</summary>
    public static string[] Calls(string bin, string name)
    {
        var file = Path.Combine(bin, name + ".calls");
        return File.Exists(file) ? File.ReadAllLines(file) : [];
    }

    /// <summary>An (empty) main.cf, so Postfix counts as configured.</summary>
    public static string PostfixConfigured(TestServer s)
    {
        var dir = s.Get<MailPaths>().PostfixConfigDir;
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "main.cf"), "# test\n");
        return dir;
    }
}

public class QueueTests
{
    // Real postqueue -c DIR -j lines (Postfix 3.7.11, /work/proto/mailstack/FINDINGS.md), plus an active one without delay_reason.
    const string Deferred = """{"queue_name": "deferred", "queue_id": "62DC9510112", "arrival_time": 1795487568, "message_size": 410, "forced_expire": false, "sender": "ext@remote.test", "recipients": [{"address": "user@deadhost.test", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:1: Connection refused"}]}""";
    const string Active = """{"queue_name": "active", "queue_id": "A1B2C3D4E5", "arrival_time": 1714686702, "message_size": 4823, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "bob@example.net"}, {"address": "carol@example.net", "delay_reason": ""}]}""";
    const string Hold = """{"queue_name": "hold", "queue_id": "4ZKQk2Nd0zz1Bd", "arrival_time": 1795487568, "message_size": 1, "forced_expire": true, "sender": "", "recipients": []}""";

    static string Echo(params string[] lines) => string.Join('\n', lines.Select(l => $"cat <<'EOF'\n{l}\nEOF"));

    // ---- pure parsing and validation

    [Fact]
    public void ParsesPostqueueJsonLinesIntoTheReferenceShape()
    {
        var messages = PostfixQueue.ParseJsonLines(Deferred + "\n" + Active + "\n", out var bad);
        Assert.Equal(0, bad);
        Assert.Equal(2, messages.Count);
        var d = messages[0];
        Assert.Equal(("deferred", "62DC9510112", 1795487568L, 410L, "ext@remote.test"), (d.QueueName, d.QueueId, d.ArrivalTime, d.MessageSize, d.Sender));
        Assert.Equal([new QueueRecipient("user@deadhost.test", "connect to 127.0.0.1[127.0.0.1]:1: Connection refused")], d.Recipients);
        Assert.Equal([new QueueRecipient("bob@example.net", ""), new QueueRecipient("carol@example.net", "")], messages[1].Recipients);
    }

    [Fact]
    public void EmptyPostqueueOutputIsAnEmptyQueue()
    {
        Assert.Empty(PostfixQueue.ParseJsonLines("", out var bad));
        Assert.Equal(0, bad);
        Assert.Empty(PostfixQueue.ParseJsonLines("\n\n", out _));
    }

    [Fact]
    public void LinesThatAreNotQueueEntriesAreSkippedAndCounted()
    {
        var messages = PostfixQueue.ParseJsonLines("postqueue: warning: something\n" + Hold + "\n[1,2]\n{\"queue_name\":\"active\"}\n{broken", out var bad);
        Assert.Equal(4, bad);
        Assert.Equal("4ZKQk2Nd0zz1Bd", Assert.Single(messages).QueueId);
    }

    [Theory]
    [InlineData("62DC9510112", true)]      // short id
    [InlineData("4ZKQk2Nd0zz1Bd", true)]   // long id (enable_long_queue_ids)
    [InlineData("ABCDE", true)]
    [InlineData("ABCD", false)]            // too short
    [InlineData("A123456789B123456789C123456789D12", false)] // 33
    [InlineData("ALL", false)]             // postsuper -d ALL would empty the queue
    [InlineData("all", false)]
    [InlineData("-", false)]               // postsuper -d - reads ids from stdin
    [InlineData("-ABCDEF", false)]
    [InlineData("ABC DEF1", false)]
    [InlineData("ABCDEF*", false)]
    [InlineData("../ABCDEF", false)]
    [InlineData("ABCDEF\n", false)]
    [InlineData("ÄBCDEF", false)]
    [InlineData("", false)]
    public void QueueIdValidation(string id, bool valid) => Assert.Equal(valid, PostfixQueue.IsQueueId(id));

    // ---- GET /api/v1/postfix/queue

    [Fact]
    public async Task QueueListsEveryMessageInTheReferenceShape()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        var dir = FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", Echo(Deferred, Active));
        var r = await s.Get("/api/v1/postfix/queue");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal([$"-c {dir} -j"], FakeTools.Calls(bin, "postqueue"));
        Assert.Equal("""{"page":1,"limit":50,"total":2}""", r.Json["meta"]!.ToJsonString());
        var data = r.Json["data"]!.AsArray();
        // oldest first; forced_expire is not in the reference's shape and is dropped
        Assert.Equal(
            """{"queue_name":"active","queue_id":"A1B2C3D4E5","arrival_time":1714686702,"message_size":4823,"sender":"alice@example.com","recipients":[{"address":"bob@example.net","delay_reason":""},{"address":"carol@example.net","delay_reason":""}]}""",
            data[0]!.ToJsonString());
        Assert.Equal(
            """{"queue_name":"deferred","queue_id":"62DC9510112","arrival_time":1795487568,"message_size":410,"sender":"ext@remote.test","recipients":[{"address":"user@deadhost.test","delay_reason":"connect to 127.0.0.1[127.0.0.1]:1: Connection refused"}]}""",
            data[1]!.ToJsonString());
    }

    [Fact]
    public async Task EmptyQueueIsAnEmptyList()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", "exit 0");
        var r = await s.Get("/api/v1/postfix/queue");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"data":[],"meta":{"page":1,"limit":50,"total":0}}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task QueuePagesOverTheWholeQueue()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", Echo(Deferred, Hold, Active));
        var r = await s.Get("/api/v1/postfix/queue?page=2&limit=2");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"page":2,"limit":2,"total":3}""", r.Json["meta"]!.ToJsonString());
        // arrival order, ties by queue id: A1B2C3D4E5 (1714686702), 4ZKQk2Nd0zz1Bd, 62DC9510112 (both 1795487568)
        Assert.Equal("62DC9510112", (string?)Assert.Single(r.Json["data"]!.AsArray())!["queue_id"]);
        var past = await s.Get("/api/v1/postfix/queue?page=9&limit=2");
        Assert.Empty(past.Json["data"]!.AsArray());
        Assert.Equal(3, (int)past.Json["meta"]!["total"]!);
    }

    [Theory]
    [InlineData("?page=0")]
    [InlineData("?limit=0")]
    [InlineData("?limit=501")]
    [InlineData("?page=abc")]
    [InlineData("?page=99999999999999")]
    public async Task QueueRejectsBadPaging(string query)
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", "exit 0");
        (await s.Get("/api/v1/postfix/queue" + query)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Empty(FakeTools.Calls(bin, "postqueue"));
    }

    [Fact]
    public async Task QueueIs503WhenPostfixIsNotInstalled()
    {
        await using var s = await TestServer.Start();
        FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        var r = await s.Get("/api/v1/postfix/queue");
        r.AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
        Assert.Equal("postfix is not installed", (string?)r.Json["error"]);
    }

    [Fact]
    public async Task QueueIs503WhenPostfixIsNotConfigured()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.Script(bin, "postqueue", Echo(Deferred));
        var r = await s.Get("/api/v1/postfix/queue");
        r.AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
        Assert.Equal("postfix is not configured", (string?)r.Json["error"]);
        Assert.Empty(FakeTools.Calls(bin, "postqueue"));
    }

    [Theory]
    [InlineData(69, "postqueue: fatal: open /x/main.cf: No such file or directory")]
    [InlineData(75, "postqueue: fatal: Connect to the Postfix showq service: timeout")]
    [InlineData(1, "postqueue: fatal: something else")]
    public async Task QueueIs503WithPostqueuesWordsWhenItFails(int exit, string stderr)
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", $"echo '{Deferred}'\necho '{stderr}' >&2\nexit {exit}");
        var r = await s.Get("/api/v1/postfix/queue");
        r.AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
        Assert.Contains(stderr, (string?)r.Json["detail"]);
        Assert.Contains($"exit code {exit}", (string?)r.Json["detail"]);
    }

    [Fact]
    public async Task QueueReadsTheQueueWhileTheMailSystemIsDown()
    {
        // postqueue -j exits 0 with a warning when the master is stopped: still the real queue.
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", $"echo 'postqueue: warning: Mail system is down -- accessing queue directly' >&2\n{Echo(Deferred)}");
        var r = await s.Get("/api/v1/postfix/queue");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("62DC9510112", (string?)r.Json["data"]![0]!["queue_id"]);
    }

    [Fact]
    public async Task QueueNeedsCredentials()
    {
        await using var s = await TestServer.Start();
        using var anonymous = s.Anonymous();
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/api/v1/postfix/queue"), (HttpMethod.Post, "/api/v1/postfix/flush"), (HttpMethod.Post, "/api/v1/postfix/queue/delete") })
            (await TestServer.Send(anonymous, method, path, method == HttpMethod.Post ? """{"message_id":"ABCDEF"}""" : null))
                .AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }

    // ---- POST /api/v1/postfix/flush

    [Fact]
    public async Task FlushRunsPostqueueF()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        var dir = FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", "exit 0");
        var r = await s.Post("/api/v1/postfix/flush");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"queue flushed"}""", r.Json.ToJsonString());
        Assert.Equal([$"-c {dir} -f"], FakeTools.Calls(bin, "postqueue"));
    }

    [Fact]
    public async Task FlushIs503WhenTheMailSystemIsDown()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", "echo 'postqueue: fatal: Cannot flush mail queue - mail system is down' >&2\nexit 69");
        var r = await s.Post("/api/v1/postfix/flush");
        r.AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
        Assert.Contains("Cannot flush mail queue - mail system is down", (string?)r.Json["detail"]);
    }

    [Fact]
    public async Task FlushIs503WhenPostfixIsNotInstalled()
    {
        await using var s = await TestServer.Start();
        FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        (await s.Post("/api/v1/postfix/flush")).AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
    }

    [Fact]
    public async Task FlushIs500WhenPostqueueFailsOtherwise()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postqueue", "echo 'postqueue: fatal: bad things' >&2\nexit 1");
        var r = await s.Post("/api/v1/postfix/flush");
        r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Contains("bad things", (string?)r.Json["detail"]);
    }

    // ---- POST /api/v1/postfix/queue/delete

    [Fact]
    public async Task DeleteRunsPostsuperWithTheQueueId()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        var dir = FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postsuper", "echo \"postsuper: $4: removed\" >&2\necho 'postsuper: Deleted: 1 message' >&2");
        var r = await s.Post("/api/v1/postfix/queue/delete", """{"message_id":"62DC9510112"}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"message deleted"}""", r.Json.ToJsonString());
        Assert.Equal([$"-c {dir} -d 62DC9510112"], FakeTools.Calls(bin, "postsuper"));
    }

    [Fact]
    public async Task DeletingAnIdThatIsNotQueuedIs500()
    {
        // Real postsuper exits 0 for an unknown id and only says "Deleted: 0 messages".
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postsuper", "echo 'postsuper: Deleted: 0 messages' >&2");
        var r = await s.Post("/api/v1/postfix/queue/delete", """{"message_id":"ABCDEF123"}""");
        r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Contains("Deleted: 0 messages", (string?)r.Json["detail"]);
        Assert.Contains("ABCDEF123", (string?)r.Json["detail"]);
    }

    [Fact]
    public async Task DeleteIs500WithPostsupersOutputWhenItExitsNonZero()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postsuper", "echo 'postsuper: fatal: queue busy' >&2\nexit 1");
        var r = await s.Post("/api/v1/postfix/queue/delete", """{"message_id":"ABCDEF123"}""");
        r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Contains("postsuper: fatal: queue busy", (string?)r.Json["detail"]);
    }

    [Fact]
    public async Task DeleteIs503WhenPostfixIsNotInstalled()
    {
        await using var s = await TestServer.Start();
        FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        (await s.Post("/api/v1/postfix/queue/delete", """{"message_id":"ABCDEF123"}"""))
            .AssertError(HttpStatusCode.ServiceUnavailable, "DEPENDENCY_UNAVAILABLE");
    }

    [Theory]
    [InlineData("{}", "message_id missing")]
    [InlineData("""{"message_id":null}""", "message_id missing")]
    [InlineData("""{"message_id":""}""", "message_id missing")]
    [InlineData("""{"message_id":"ALL"}""", "invalid message_id")]
    [InlineData("""{"message_id":"-"}""", "invalid message_id")]
    [InlineData("""{"message_id":"-d ALL"}""", "invalid message_id")]
    [InlineData("""{"message_id":"ABCDEF; rm"}""", "invalid message_id")]
    [InlineData("""{"message_id":"ABC"}""", "invalid message_id")]
    [InlineData("""{"message_id":12345678}""", null)]
    [InlineData("""{"message_id":["ABCDEF"]}""", null)]
    [InlineData("""{"message_id":"ABCDEF","extra":1}""", null)]
    [InlineData("""{"message_id":"ABCDEF","message_id":"ABCDEF"}""", null)]
    [InlineData("""{"message_id":""", null)]
    [InlineData("[]", null)]
    public async Task DeleteRejectsBadInputBeforePostsuperRuns(string body, string? error)
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        FakeTools.PostfixConfigured(s);
        FakeTools.Script(bin, "postsuper", "echo 'postsuper: Deleted: 1 message' >&2");
        var r = await s.Post("/api/v1/postfix/queue/delete", body);
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        if (error is not null) Assert.Equal(error, (string?)r.Json["error"]);
        Assert.Empty(FakeTools.Calls(bin, "postsuper"));
    }

    [Fact]
    public async Task QueueRoutesRefuseOtherMethods()
    {
        await using var s = await TestServer.Start();
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await s.Delete("/api/v1/postfix/queue")).Status);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await s.Get("/api/v1/postfix/flush")).Status);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await s.Get("/api/v1/postfix/queue/delete")).Status);
    }

    [Fact]
    public void QueueMessageSerializesWithSnakeCaseNames()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(
            new QueueMessage("hold", "ABCDEF", 1, 2, "a@b.c", [new QueueRecipient("x@y.z", "r")]), AppJson.Api.QueueMessage);
        Assert.Equal(["arrival_time", "message_size", "queue_id", "queue_name", "recipients", "sender"],
            JsonNode.Parse(json)!.AsObject().Select(p => p.Key).Order());
    }
}
