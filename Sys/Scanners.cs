using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace MailPanel.Sys;

/// <summary>SpamAssassin's verdict: the score, spamd's own required score, and the rules that hit.</summary>
internal sealed record SpamVerdict(double Score, double Required, IReadOnlyList<string> Tests);

/// <summary>ClamAV's verdict: null <paramref name="Virus"/> = clean.</summary>
internal sealed record VirusVerdict(string? Virus);

/// <summary>A scanner that could not give a verdict (unreachable, timed out, answered nonsense).</summary>
internal sealed class ScannerUnavailable(string message) : Exception(message);

/// <summary>
/// The content scanners, spoken to directly: spamd over TCP with the spamc protocol (SpamAssassin's
/// spamd/PROTOCOL: "SYMBOLS SPAMC/1.5", a Content-length header, the message; the answer's
/// "Spam: True ; 1003.5 / 5.0" header and the comma-separated rule names as its body) and clamd over
/// its unix socket with INSTREAM (clamd(8): "zINSTREAM\0", chunks each prefixed with a 4-byte
/// big-endian length, a zero length to end; the answer is "stream: OK" or "stream: NAME FOUND").
/// </summary>
internal static class Scanners
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static async Task<SpamVerdict> Spamd(string host, int port, byte[] message, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(Timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, limit.Token);
            await using var stream = client.GetStream();
            var head = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"SYMBOLS SPAMC/1.5\r\nContent-length: {message.Length}\r\n\r\n"));
            await stream.WriteAsync(head, limit.Token);
            await stream.WriteAsync(message, limit.Token);
            client.Client.Shutdown(SocketShutdown.Send);
            var answer = await ReadAll(stream, 1 << 20, limit.Token);
            return ParseSpamd(Encoding.UTF8.GetString(answer));
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            throw new ScannerUnavailable($"spamd at {host}:{port}: {(e is OperationCanceledException ? "timed out" : e.Message)}");
        }
    }

    /// <summary>spamd's answer: "SPAMD/1.1 0 EX_OK", headers, an empty line, the rule names.</summary>
    public static SpamVerdict ParseSpamd(string answer)
    {
        var split = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = (split < 0 ? answer : answer[..split]).Split("\r\n");
        var body = split < 0 ? "" : answer[(split + 4)..];
        if (head.Length == 0 || !head[0].StartsWith("SPAMD/", StringComparison.Ordinal) || head[0].Split(' ') is not [_, "0", ..])
            throw new ScannerUnavailable($"spamd answered '{head.FirstOrDefault()}'");
        foreach (var line in head.Skip(1))
        {
            if (!line.StartsWith("Spam:", StringComparison.OrdinalIgnoreCase)) continue;
            // "Spam: True ; 1003.5 / 5.0"
            var parts = line[5..].Split([';', '/'], StringSplitOptions.TrimEntries);
            if (parts.Length == 3 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var score)
                && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var required))
                return new SpamVerdict(score, required,
                    body.Split([',', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        throw new ScannerUnavailable("spamd's answer has no 'Spam:' header");
    }

    /// <summary>spamd's PING: "SPAMD/1.5 0 PONG".</summary>
    public static async Task<string?> PingSpamd(string host, int port, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, limit.Token);
            await using var stream = client.GetStream();
            await stream.WriteAsync("PING SPAMC/1.5\r\n\r\n"u8.ToArray(), limit.Token);
            var answer = Encoding.ASCII.GetString(await ReadAll(stream, 4096, limit.Token));
            return answer.Contains("PONG", StringComparison.Ordinal) ? null : $"spamd at {host}:{port} answered '{answer.Trim()}'";
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            return $"spamd at {host}:{port}: {(e is OperationCanceledException ? "timed out" : e.Message)}";
        }
    }

    public static async Task<VirusVerdict> Clamd(string socketPath, byte[] message, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(Timeout);
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), limit.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync("zINSTREAM\0"u8.ToArray(), limit.Token);
            var length = new byte[4];
            const int Chunk = 64 * 1024;
            for (var at = 0; at < message.Length; at += Chunk)
            {
                var n = Math.Min(Chunk, message.Length - at);
                BinaryPrimitives.WriteUInt32BigEndian(length, (uint)n);
                await stream.WriteAsync(length, limit.Token);
                await stream.WriteAsync(message.AsMemory(at, n), limit.Token);
            }
            BinaryPrimitives.WriteUInt32BigEndian(length, 0);
            await stream.WriteAsync(length, limit.Token);
            var answer = Encoding.UTF8.GetString(await ReadAll(stream, 4096, limit.Token, stopAt: 0)).TrimEnd('\0', '\n');
            return ParseClamd(answer);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            throw new ScannerUnavailable($"clamd at {socketPath}: {(e is OperationCanceledException ? "timed out" : e.Message)}");
        }
    }

    /// <summary>"stream: OK", "stream: Eicar-Signature FOUND"; anything else (e.g. "INSTREAM size limit exceeded. ERROR") is no verdict.</summary>
    public static VirusVerdict ParseClamd(string answer)
    {
        var text = answer.StartsWith("stream: ", StringComparison.Ordinal) ? answer[8..] : answer;
        if (text == "OK") return new VirusVerdict(null);
        if (text.EndsWith(" FOUND", StringComparison.Ordinal)) return new VirusVerdict(text[..^6]);
        throw new ScannerUnavailable($"clamd answered '{answer}'");
    }

    /// <summary>clamd's PING over its socket: null when it answers PONG, else why not.</summary>
    public static async Task<string?> PingClamd(string socketPath, CancellationToken cancel)
    {
        if (!File.Exists(socketPath)) return $"no clamd socket at {socketPath}";
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), limit.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync("zPING\0"u8.ToArray(), limit.Token);
            var answer = Encoding.ASCII.GetString(await ReadAll(stream, 256, limit.Token, stopAt: 0)).TrimEnd('\0');
            return answer == "PONG" ? null : $"clamd at {socketPath} answered '{answer}'";
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            return $"clamd at {socketPath}: {(e is OperationCanceledException ? "timed out" : e.Message)}";
        }
    }

    /// <summary>Reads to the end of the stream (or up to a <paramref name="stopAt"/> byte), at most <paramref name="max"/> bytes.</summary>
    static async Task<byte[]> ReadAll(Stream stream, int max, CancellationToken cancel, int stopAt = -1)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        while (buffer.Length < max)
        {
            var n = await stream.ReadAsync(chunk, cancel);
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
            if (stopAt >= 0 && Array.IndexOf(chunk, (byte)stopAt, 0, n) >= 0) break;
        }
        return buffer.ToArray();
    }
}
