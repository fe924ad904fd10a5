using System.Net.Sockets;
using System.Text;

namespace MailPanel.Tests;

/// <summary>
/// The policy socket of a running daemon (in-process TestServer) fed input Postfix never sends:
/// oversized, garbage, incomplete and truncated requests. Each is answered DEFER_IF_PERMIT or closed,
/// and the service goes on answering other clients at once.
/// </summary>
public sealed class PolicyServerTests : IAsyncLifetime
{
    TestServer server = null!;
    string socketPath = "";

    const string Valid = "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=192.0.2.7\n"
        + "sender=a@remote.example\nrecipient=b@nowhere.example\ninstance=1.2.3\nsize=100\n\n";

    public async Task InitializeAsync()
    {
        server = await TestServer.Start(nameof(PolicyServerTests));
        socketPath = server.Get<PolicyServer>().SocketPath;
        // private/ normally comes with the first reconcile; the service waits for it.
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(socketPath))
        {
            if (DateTime.UtcNow > until) throw new TimeoutException("no policy socket");
            await Task.Delay(50);
        }
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    async Task<Socket> Connect()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        return socket;
    }

    /// <summary>Everything the service sends until it closes or until one answer ends ("\n\n"), with a time bound.</summary>
    static async Task<(string Text, bool Closed)> Read(Socket socket, bool untilClosed = false)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            int n;
            try { n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset) { n = 0; } // closed with our bytes unread
            if (n == 0) return (Encoding.UTF8.GetString([.. received]), true);
            received.AddRange(buffer.AsSpan(0, n));
            var text = Encoding.UTF8.GetString([.. received]);
            if (!untilClosed && text.EndsWith("\n\n", StringComparison.Ordinal)) return (text, false);
        }
    }

    static async Task<string> Ask(Socket socket, byte[] request)
    {
        await socket.SendAsync(request, SocketFlags.None);
        var (text, closed) = await Read(socket);
        Assert.False(closed, $"the service closed the connection (read: {text})");
        return text;
    }

    static Task<string> Ask(Socket socket, string request) => Ask(socket, Encoding.UTF8.GetBytes(request));

    /// <summary>A new client, and one connected before the bad input, both get a normal answer at once.</summary>
    async Task OthersAreServed(Socket earlier)
    {
        using var fresh = await Connect();
        var started = DateTime.UtcNow;
        Assert.Equal("action=DUNNO\n\n", await Ask(fresh, Valid));
        Assert.Equal("action=DUNNO\n\n", await Ask(earlier, Valid));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "the other clients waited");
    }

    [Fact]
    public async Task AValidRequestIsAnsweredAndTheConnectionServesTheNextOne()
    {
        using var socket = await Connect();
        Assert.Equal("action=DUNNO\n\n", await Ask(socket, Valid));
        Assert.Equal("action=DUNNO\n\n", await Ask(socket, Valid));
    }

    [Theory]
    [InlineData("one long value")]
    [InlineData("many attributes")]
    public async Task ARequestOver64KbIsDeferredAndTheConnectionClosedWithoutReadingTheRest(string shape)
    {
        using var earlier = await Connect();
        using var socket = await Connect();
        var head = "request=smtpd_access_policy\nprotocol_state=RCPT\n";
        var body = shape == "one long value"
            ? "ccert_subject=" + new string('a', PolicyServer.MaxRequest) + "\n"
            : string.Concat(Enumerable.Range(0, 6000).Select(i => $"x{i}=0123456789\n"));
        Assert.True(head.Length + body.Length > PolicyServer.MaxRequest);
        // The rest of the stream goes on for another megabyte and never ends the request: the
        // service must answer and close after 64 KB, not wait for it.
        var send = Task.Run(async () =>
        {
            try
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes(head + body), SocketFlags.None);
                var more = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("y=" + new string('b', 1000) + "\n", 1000)));
                await socket.SendAsync(more, SocketFlags.None);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // closed by the service (or by us after its answer) while still sending: expected
            }
        });
        var (text, closed) = await Read(socket, untilClosed: true);
        Assert.True(closed);
        Assert.StartsWith("action=DEFER_IF_PERMIT 4.3.5 Malformed policy request (request over 65536 bytes)", text, StringComparison.Ordinal);
        Assert.EndsWith("\n\n", text, StringComparison.Ordinal);
        socket.Close(); // unblocks the sender if the kernel buffer still held it
        await send;
        await OthersAreServed(earlier);
    }

    [Theory]
    [InlineData("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a\0b@x.example\nrecipient=b@nowhere.example\n\n", "NUL byte")]
    [InlineData("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=\xFF\xFE@x.example\nrecipient=b@nowhere.example\n\n", "invalid UTF-8")]
    [InlineData("request=smtpd_access_policy\nprotocol_state=RCPT\ngarbage line\nrecipient=b@nowhere.example\n\n", "a line that is not name=value")]
    [InlineData("request=smtpd_access_policy\nrecipient=b@nowhere.example\n\n", "no protocol_state")]
    [InlineData("request=smtpd_access_policy\nprotocol_state=\nrecipient=b@nowhere.example\n\n", "no protocol_state")]
    [InlineData("protocol_state=RCPT\nrecipient=b@nowhere.example\n\n", "not an smtpd_access_policy request")]
    [InlineData("request=junk_policy\nprotocol_state=RCPT\nrecipient=b@nowhere.example\n\n", "not an smtpd_access_policy request")]
    [InlineData("\n", "not an smtpd_access_policy request")]
    public async Task AMalformedRequestIsDeferredAndTheConnectionGoesOn(string request, string reason)
    {
        using var earlier = await Connect();
        using var socket = await Connect();
        // Latin-1 keeps \xFF as the single byte 0xFF: the request is sent as the raw bytes written above.
        var bytes = Encoding.Latin1.GetBytes(request);
        Assert.Equal($"action=DEFER_IF_PERMIT 4.3.5 Malformed policy request ({reason}), try again later\n\n", await Ask(socket, bytes));
        // The same connection answers the next, valid request normally (the malformed one left nothing behind).
        Assert.Equal("action=DUNNO\n\n", await Ask(socket, Valid));
        await OthersAreServed(earlier);
    }

    [Fact]
    public async Task ATruncatedRequestIsClosedWithoutAnAnswer()
    {
        using var earlier = await Connect();
        using var socket = await Connect();
        await socket.SendAsync(Encoding.UTF8.GetBytes("request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=b@nowh"), SocketFlags.None);
        socket.Shutdown(SocketShutdown.Send); // end of input inside the request
        var (text, closed) = await Read(socket, untilClosed: true);
        Assert.True(closed);
        Assert.Equal("", text);
        await OthersAreServed(earlier);
    }

    [Fact]
    public async Task ARequestSplitIntoManySmallWritesIsAnsweredOnce()
    {
        using var socket = await Connect();
        for (var i = 0; i < 2; i++)
        {
            foreach (var b in Encoding.UTF8.GetBytes(Valid)) await socket.SendAsync(new[] { b }, SocketFlags.None);
            Assert.Equal("action=DUNNO\n\n", (await Read(socket)).Text);
        }
    }
}
