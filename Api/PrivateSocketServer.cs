using System.Net.Sockets;

namespace MailPanel.Api;

/// <summary>
/// A service the daemon serves to Postfix on a unix socket in Postfix's private/ directory (the
/// policy service, the content filter): it waits for private/ (the first reconcile makes it),
/// replaces a socket a killed daemon left, listens, and serves each connection on its own task
/// until the daemon stops, then removes the socket. Inside private/ (0700 postfix) only postfix and
/// root reach it, whatever the socket's own mode.
/// </summary>
internal abstract class PrivateSocketServer(ILogger log) : BackgroundService
{
    public abstract string SocketPath { get; }

    /// <summary>What the start-up log line calls it.</summary>
    protected abstract string What { get; }

    /// <summary>One client connection, until it closes or the daemon stops.</summary>
    protected abstract Task Serve(Socket client, CancellationToken stop);

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        while (!Directory.Exists(Path.GetDirectoryName(SocketPath)) && !stop.IsCancellationRequested)
            await Task.Delay(500, stop).ContinueWith(_ => { }, TaskScheduler.Default);
        if (stop.IsCancellationRequested) return;
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        if (File.Exists(SocketPath)) File.Delete(SocketPath); // left by a daemon that was killed
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        File.SetUnixFileMode(SocketPath, (UnixFileMode)0b110_110_110);
        listener.Listen(128);
        log.LogInformation("{What} listening on {Socket}", What, SocketPath);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(stop);
                _ = Task.Run(() => Serve(client, stop), CancellationToken.None);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            try { File.Delete(SocketPath); } catch (IOException) { }
        }
    }
}
