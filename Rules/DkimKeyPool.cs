using System.Threading.Channels;
using MailPanel.Core;

namespace MailPanel.Rules;

/// <summary>
/// DKIM key pairs made ahead of time. A 2048-bit RSA key takes 80 ms to over 700 ms to make here
/// (the prime search varies widely), so POST /dkim/generate takes a finished pair from this pool
/// and two workers make the next ones meanwhile; with the pool empty a request waits for whichever
/// worker finishes first, which cuts the long tail. The workers start with the first request (a
/// daemon that never generates a key never spends the CPU) and rest while the pool is full. The
/// keys exist only in memory until a request takes one; each is used once.
/// </summary>
internal sealed class DkimKeyPool : IDisposable
{
    public const int Size = 8;
    const int Workers = 2;

    readonly Channel<(string PrivateKeyPem, string PublicKeyBase64)> keys =
        Channel.CreateBounded<(string, string)>(new BoundedChannelOptions(Size) { SingleReader = false, SingleWriter = false });
    readonly CancellationTokenSource stop = new();
    int started;

    public async Task<(string PrivateKeyPem, string PublicKeyBase64)> Take(CancellationToken cancel)
    {
        if (Interlocked.Exchange(ref started, 1) == 0)
            for (var i = 0; i < Workers; i++) _ = Task.Factory.StartNew(Fill, TaskCreationOptions.LongRunning);
        return await keys.Reader.ReadAsync(cancel);
    }

    void Fill()
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var pair = DkimKeys.NewPair();
                keys.Writer.WriteAsync(pair, stop.Token).AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            // the daemon is stopping
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        keys.Writer.TryComplete();
    }
}
