using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailPanel.Tests.MailStack;

/// <summary>A minimal SMTP server on loopback that keeps every message it is given.</summary>
internal sealed class SmtpSink : IDisposable
{
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly ConcurrentBag<string> messages = [];
    readonly CancellationTokenSource stop = new();

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    public void Start()
    {
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await listener.AcceptTcpClientAsync(stop.Token); }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                _ = Task.Run(() => Serve(client));
            }
        });
    }

    async Task Serve(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.Latin1);
            var writer = new StreamWriter(stream, Encoding.Latin1) { NewLine = "\r\n", AutoFlush = true };
            await writer.WriteLineAsync("220 sink.test ESMTP");
            while (await reader.ReadLineAsync() is { } line)
            {
                var verb = line.Split(' ')[0].ToUpperInvariant();
                if (verb is "EHLO" or "HELO") await writer.WriteLineAsync("250 sink.test");
                else if (verb == "DATA")
                {
                    await writer.WriteLineAsync("354 go ahead");
                    var data = new StringBuilder();
                    while (await reader.ReadLineAsync() is { } l && l != ".") data.Append(l.StartsWith("..", StringComparison.Ordinal) ? l[1..] : l).Append("\r\n");
                    messages.Add(data.ToString());
                    await writer.WriteLineAsync("250 kept");
                }
                else if (verb == "QUIT") { await writer.WriteLineAsync("221 bye"); return; }
                else await writer.WriteLineAsync("250 ok");
            }
        }
    }

    public bool TryTake(string subject, out string? message)
    {
        message = messages.FirstOrDefault(m => m.Contains($"Subject: {subject}\r\n", StringComparison.Ordinal));
        return message is not null;
    }

    /// <summary>Every message received so far that contains <paramref name="text"/> (the bytes as UTF-8).</summary>
    public List<string> Containing(string text) =>
        [.. messages.Select(m => Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(m))).Where(m => m.Contains(text, StringComparison.Ordinal))];

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
    }
}
