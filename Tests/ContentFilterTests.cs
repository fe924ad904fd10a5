using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailPanel.Tests;

/// <summary>
/// The content filter without Postfix: the milter codec (Core/Milter.cs), the spamd and clamd answer
/// parsers, the per-recipient decision, the release's header stripping, a milter conversation with
/// the daemon's real socket, and the quarantine routes' envelope and bad input.
/// </summary>
public class ContentFilterTests
{
    static byte[] Cs(params string[] values) => [.. values.SelectMany(v => Encoding.UTF8.GetBytes(v).Append((byte)0))];

    [Fact]
    public async Task APacketRoundTripsAndLengthsArePrefixedBigEndian()
    {
        var packet = Milter.Encode(Milter.Header, Cs("Subject", "hi"));
        Assert.Equal(1u + 8 + 3, BinaryPrimitives.ReadUInt32BigEndian(packet));
        Assert.Equal((byte)'L', packet[4]);
        using var stream = new MemoryStream([.. packet, .. Milter.Encode(Milter.Quit)]);
        var first = await Milter.Read(stream, default);
        Assert.Equal(Milter.Header, first!.Value.Command);
        Assert.Equal(["Subject", "hi"], Milter.Strings(first.Value.Data));
        Assert.Equal(Milter.Quit, (await Milter.Read(stream, default))!.Value.Command);
        Assert.Null(await Milter.Read(stream, default)); // clean end
    }

    [Fact]
    public async Task TruncatedOrOversizedPacketsAreRefused()
    {
        var huge = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(huge, Milter.MaxPacket + 1);
        await Assert.ThrowsAsync<InvalidDataException>(() => Milter.Read(new MemoryStream(huge), default));
        await Assert.ThrowsAsync<InvalidDataException>(() => Milter.Read(new MemoryStream(Milter.Encode(Milter.Body, new byte[10])[..8]), default));
        await Assert.ThrowsAsync<InvalidDataException>(() => Milter.Read(new MemoryStream([0, 0, 0, 0]), default));
    }

    [Fact]
    public void ConnectMacrosOptionsAndAddressesDecode()
    {
        var connect = Milter.ParseConnect([.. Cs("client.example"), (byte)'4', 0x30, 0x39, .. Cs("203.0.113.5")]);
        Assert.Equal(new MilterConnect("client.example", '4', 12345, "203.0.113.5"), connect);
        Assert.Equal('U', Milter.ParseConnect([.. Cs("unknown"), (byte)'U']).Family);

        var (forCommand, macros) = Milter.ParseMacros([(byte)'M', .. Cs("{auth_authen}", "sam@caps.test", "i", "4XyZ")]);
        Assert.Equal(Milter.Mail, forCommand);
        Assert.Equal("sam@caps.test", macros["{auth_authen}"]);
        Assert.Equal("4XyZ", macros["i"]);

        var options = Milter.Options(6, 0x1FF, 0x1FFFFF);
        Assert.Equal((6u, 0x1FFu, 0x1FFFFFu), Milter.ParseOptions(options.AsSpan(5)));

        Assert.Equal("a@b.test", Milter.Address(Cs("<a@b.test>", "SIZE=100")));
        Assert.Equal("", Milter.Address(Cs("<>")));

        var latin1 = Encoding.Latin1.GetBytes("caf\u00e9 one\n\ttwo"); // an 8-bit, folded header value
        var (name, line) = Milter.RawHeader([.. Cs("Subject"), .. latin1, 0]);
        Assert.Equal("Subject", name);
        Assert.Equal("Subject: caf\u00e9 one\r\n\ttwo\r\n", Encoding.Latin1.GetString(line));
    }

    [Fact]
    public void ModificationRepliesHaveTheWireLayoutLibmilterUses()
    {
        var change = Milter.ChangeHeaderReply(2, "X-Spam-Flag", "");
        Assert.Equal((byte)'m', change[4]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(change.AsSpan(5)));
        Assert.Equal(["X-Spam-Flag", ""], Milter.Strings(change.AsSpan(9)));
        Assert.Equal(["X-Spam-Score", "8.3"], Milter.Strings(Milter.AddHeaderReply("X-Spam-Score", "8.3").AsSpan(5)));
        Assert.Equal(["<bob@x.test>"], Milter.Strings(Milter.DeleteRcptReply("bob@x.test").AsSpan(5)));
        Assert.Equal(["550 5.7.1 no thanks"], Milter.Strings(Milter.Code("550 5.7.1 no\r\nthanks").AsSpan(5)));
    }

    [Fact]
    public void SpamdAndClamdAnswersParse()
    {
        var verdict = Scanners.ParseSpamd("SPAMD/1.1 0 EX_OK\r\nContent-length: 12\r\nSpam: True ; 1003.5 / 5.0\r\n\r\nGTUBE,NO_RELAYS");
        Assert.Equal(1003.5, verdict.Score);
        Assert.Equal(5.0, verdict.Required);
        Assert.Equal(["GTUBE", "NO_RELAYS"], verdict.Tests);
        Assert.Equal(-1.2, Scanners.ParseSpamd("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -1.2 / 5.0\r\n\r\n").Score);
        Assert.Throws<ScannerUnavailable>(() => Scanners.ParseSpamd("SPAMD/1.0 76 Bad header line: x\r\n\r\n"));
        Assert.Throws<ScannerUnavailable>(() => Scanners.ParseSpamd("SPAMD/1.1 0 EX_OK\r\n\r\n"));

        Assert.Null(Scanners.ParseClamd("stream: OK").Virus);
        Assert.Equal("Eicar-Signature", Scanners.ParseClamd("stream: Eicar-Signature FOUND").Virus);
        Assert.Throws<ScannerUnavailable>(() => Scanners.ParseClamd("INSTREAM size limit exceeded. ERROR"));
    }

    [Fact]
    public void ScoresCarryExactlyOneInvariantDecimal()
    {
        Assert.Equal("8.3", ContentFilter.Score(8.3));
        Assert.Equal("-1.2", ContentFilter.Score(-1.2));
        Assert.Equal("5.0", ContentFilter.Score(5));
        Assert.Equal("1003.5", ContentFilter.Score(1003.5));
        Assert.Equal("0.0", ContentFilter.Score(0.04));
    }

    static RecipientPolicy R(string address, string spam, double threshold = 5.0, string virus = "quarantine") => new(address, threshold, spam, virus);

    static SpamVerdict Spam(double score) => new(score, 5.0, ["GTUBE"]);

    [Fact]
    public void EachRecipientGetsItsOwnActionAndAllRejectingIsA550()
    {
        var all = ContentFilter.Decide([R("a@x.test", "reject"), R("b@x.test", "reject", 3)], Spam(8.3), null, false, null, null);
        Assert.Equal("550 5.7.1 Message rejected as spam (score 8.3, required 3.0)", all.Reject);
        Assert.Empty(all.Quarantined);

        // A rejecting recipient among accepting ones is quarantined: nobody loses mail silently.
        var mixed = ContentFilter.Decide([R("a@x.test", "reject"), R("b@x.test", "tag")], Spam(8.3), null, false, null, null);
        Assert.Null(mixed.Reject);
        Assert.Equal(["a@x.test"], mixed.Quarantined);
        Assert.Equal(FilterAction.Quarantine, mixed.Actions["a@x.test"]);
        Assert.Equal(FilterAction.Tag, mixed.Actions["b@x.test"]);
        Assert.False(mixed.QuarantineAll);
        Assert.Contains(("X-Spam-Flag", "YES"), mixed.Headers);
        Assert.Contains(("X-Spam-Score", "8.3"), mixed.Headers);
        Assert.Contains(("X-Spam-Status", "Yes, score=8.3 required=5.0 tests=GTUBE"), mixed.Headers);

        var held = ContentFilter.Decide([R("a@x.test", "quarantine"), R("b@x.test", "quarantine")], Spam(8.3), null, false, null, null);
        Assert.True(held.QuarantineAll);
        Assert.Equal("spam", held.Reason);

        // Under a recipient's threshold: delivered, scored, not flagged.
        var below = ContentFilter.Decide([R("a@x.test", "reject", 10)], Spam(8.3), null, false, null, null);
        Assert.Null(below.Reject);
        Assert.Empty(below.Quarantined);
        Assert.DoesNotContain(below.Headers, h => h.Name == "X-Spam-Flag");
        Assert.Contains(("X-Spam-Status", "No, score=8.3 required=10.0 tests=GTUBE"), below.Headers);
    }

    [Fact]
    public void VirusesFollowClamavActionAndMissingScannersAreSaidInHeaders()
    {
        var infected = new VirusVerdict("Eicar-Signature");
        var reject = ContentFilter.Decide([R("a@x.test", "tag", virus: "reject")], Spam(0), null, true, infected, null);
        Assert.Equal("550 5.7.1 Message rejected: it contains a virus (Eicar-Signature)", reject.Reject);
        var tagged = ContentFilter.Decide([R("a@x.test", "reject", virus: "tag")], Spam(0), null, true, infected, null);
        Assert.Null(tagged.Reject);
        Assert.Contains(("X-Virus-Status", "Infected (Eicar-Signature)"), tagged.Headers);
        var held = ContentFilter.Decide([R("a@x.test", "tag")], null, "spamd down", true, infected, null);
        Assert.Equal("virus", held.Reason);
        Assert.True(held.QuarantineAll);

        var unchecked_ = ContentFilter.Decide([R("a@x.test", "reject", 0)], null, "spamd at 127.0.0.1:783: refused", true, null, "clamd timed out");
        Assert.Null(unchecked_.Reject);
        Assert.Empty(unchecked_.Quarantined);
        Assert.Equal([("X-Spam-Status", "Unchecked (spamd at 127.0.0.1:783: refused)"), ("X-Virus-Status", "Unchecked (clamd timed out)")], unchecked_.Headers);
        // clamd not installed: no virus header at all.
        Assert.DoesNotContain(ContentFilter.Decide([R("a@x.test", "tag")], Spam(1), null, false, null, null).Headers, h => h.Name == "X-Virus-Status");
    }

    [Fact]
    public void ReleaseStripsVerdictHeadersWithTheirContinuationLinesAndKeepsTheRest()
    {
        var message = Encoding.ASCII.GetBytes(
            "Received: from a\r\n\tby b\r\nX-Spam-Status: Yes, score=9.0\r\n\ttests=GTUBE\r\nSubject: hello\r\n  world\r\nx-spam-flag: YES\r\nX-Virus-Status: Clean\r\n\r\nX-Spam-Flag: in the body stays\r\n");
        var stripped = Encoding.ASCII.GetString(QuarantineRules.WithoutVerdict(message));
        Assert.Equal("Received: from a\r\n\tby b\r\nSubject: hello\r\n  world\r\n\r\nX-Spam-Flag: in the body stays\r\n", stripped);
        Assert.Equal("hello world", QuarantineRules.Subject(message));
    }

    [Fact]
    public async Task TheQuarantineListUsesTheListEnvelopeAndBadIdsAndPagesAre4xx()
    {
        await using var s = await TestServer.Start();
        var list = await s.Get("/api/v1/quarantine");
        list.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"data":[],"meta":{"page":1,"limit":50,"total":0}}""", list.Body);
        (await s.Get("/api/v1/quarantine?page=0")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Get("/api/v1/quarantine?limit=501")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Get("/api/v1/quarantine/abc")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Get("/api/v1/quarantine/42")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Post("/api/v1/quarantine/42/release")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Delete("/api/v1/quarantine/42")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Put("/api/v1/quarantine/42", "{}")).AssertError(HttpStatusCode.MethodNotAllowed, "METHOD_NOT_ALLOWED");
        using var anonymous = new HttpClient { BaseAddress = s.BaseUri };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/quarantine")).StatusCode);
    }

    [Fact]
    public async Task ClamdIsReportedUnavailableWhenItsSocketIsAbsent()
    {
        await using var s = await TestServer.Start();
        var scanners = await s.Get("/api/v1/antispam/scanners");
        scanners.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("unavailable", scanners.Json["clamd"]!["status"]!.GetValue<string>());
        Assert.StartsWith("no clamd socket at " + Path.Combine(s.Config.SysRoot, "run/clamav/clamd.ctl"), scanners.Json["clamd"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("127.0.0.1:783", scanners.Json["spamd"]!["address"]!.GetValue<string>());
    }

    /// <summary>Plays Postfix against the daemon's real milter socket (no spamd on the port it asks: the message passes, marked unchecked).</summary>
    [Fact]
    public async Task TheMilterAcceptsAuthenticatedMailAndStripsForgedVerdictsFromTheRest()
    {
        await using var s = await TestServer.Start();
        var global = (await s.Get("/api/v1/config/global")).Json.AsObject();
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        global["spam_remote_host"] = "127.0.0.1";
        global["spam_remote_port"] = port;
        (await s.Put("/api/v1/config/global", global.ToJsonString())).AssertStatus(HttpStatusCode.OK);
        var socketPath = s.Get<MilterServer>().SocketPath;
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        for (var i = 0; i < 100 && !File.Exists(socketPath); i++) await Task.Delay(100);

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        await using var stream = new NetworkStream(socket);
        async Task<MilterPacket> Ask(byte command, byte[] data)
        {
            await stream.WriteAsync(Milter.Encode(command, data));
            return (await Milter.Read(stream, default))!.Value;
        }

        var options = await Ask(Milter.OptionNegotiation, Milter.Options(6, 0x1FF, 0x3FF).AsSpan(5).ToArray());
        var (version, actions, _) = Milter.ParseOptions(options.Data);
        Assert.Equal(6u, version);
        Assert.Equal(Milter.ActionAddHeaders | Milter.ActionChangeHeaders | Milter.ActionDeleteRcpt, actions);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Connect, [.. Cs("client.example"), (byte)'4', 0, 25, .. Cs("203.0.113.5")])).Command);

        // A mailbox submitting (SASL): accepted without a look.
        await stream.WriteAsync(Milter.Encode(Milter.Macro, [(byte)'M', .. Cs("{auth_authen}", "sam@caps.test")]));
        Assert.Equal(Milter.Accept, (await Ask(Milter.Mail, Cs("<sam@caps.test>"))).Command);

        // The next message, from outside: forged verdict headers are deleted, the verdict says unchecked.
        await stream.WriteAsync(Milter.Encode(Milter.Macro, [(byte)'M']));
        Assert.Equal(Milter.Continue, (await Ask(Milter.Mail, Cs("<x@outside.example>"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Rcpt, Cs("<a@nowhere.test>"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Header, Cs("X-Spam-Flag", "YES"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Header, Cs("Subject", "hi"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Header, Cs("x-spam-flag", "YES"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.EndOfHeaders, [])).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Body, Encoding.ASCII.GetBytes("hello\r\n"))).Command);
        await stream.WriteAsync(Milter.Encode(Milter.EndOfBody));
        var replies = new List<MilterPacket>();
        while (replies.Count == 0 || replies[^1].Command is not (Milter.Continue or Milter.Accept or Milter.Reject or Milter.Discard or Milter.ReplyCode))
            replies.Add((await Milter.Read(stream, default))!.Value);
        Assert.Equal([Milter.ChangeHeader, Milter.ChangeHeader, Milter.AddHeader, Milter.Continue], replies.Select(r => r.Command));
        Assert.Equal([2u, 1u], replies.Take(2).Select(r => BinaryPrimitives.ReadUInt32BigEndian(r.Data)));
        var added = Milter.Strings(replies[2].Data);
        Assert.Equal("X-Spam-Status", added[0]);
        Assert.StartsWith($"Unchecked (spamd at 127.0.0.1:{port}: ", added[1], StringComparison.Ordinal);
        // A whitelisted sender: not scored (no verdict header added), forged headers still deleted.
        (await s.Post("/api/v1/antispam/whitelist", """{"entry_type":"email","value":"friend@outside.example"}""")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Mail, Cs("<friend@outside.example>"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Rcpt, Cs("<a@nowhere.test>"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.Header, Cs("X-Spam-Score", "99.0"))).Command);
        Assert.Equal(Milter.Continue, (await Ask(Milter.EndOfHeaders, [])).Command);
        await stream.WriteAsync(Milter.Encode(Milter.EndOfBody));
        Assert.Equal(Milter.ChangeHeader, (await Milter.Read(stream, default))!.Value.Command);
        Assert.Equal(Milter.Continue, (await Milter.Read(stream, default))!.Value.Command);

        await stream.WriteAsync(Milter.Encode(Milter.Quit));
        Assert.Equal(0, await stream.ReadAsync(new byte[1]));
    }
}
