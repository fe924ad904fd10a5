using System.Collections.Concurrent;
using System.Net;

namespace MailPanel.Api;

internal enum RateBucket { Login, Api }

/// <summary>
/// Per-source-IP fixed one-minute windows, one limiter per bucket (login, api). Limits are read on
/// every call so a PUT of the security settings applies at once.
/// </summary>
internal sealed class RateLimiter(TimeProvider time)
{
    sealed class Window
    {
        public long Start;
        public int Count;
    }

    readonly ConcurrentDictionary<(IPAddress, RateBucket), Window> windows = new();
    long lastSweep;

    /// <summary>Counts this request; false when the source is over <paramref name="perMinute"/> in its current window.</summary>
    public bool TryAcquire(IPAddress source, int perMinute, RateBucket bucket)
    {
        var now = time.GetTimestamp();
        var minute = time.TimestampFrequency * 60;
        var window = windows.GetOrAdd((source, bucket), static _ => new Window());
        bool allowed;
        lock (window)
        {
            if (window.Count == 0 || now - window.Start >= minute)
            {
                window.Start = now;
                window.Count = 0;
            }
            window.Count++;
            allowed = window.Count <= perMinute;
            if (!allowed) window.Count = perMinute + 1; // no overflow under a flood
        }
        Sweep(now, minute);
        return allowed;
    }

    /// <summary>Drops windows idle for over a minute, at most once a minute, so a scan of many sources cannot grow memory without bound.</summary>
    void Sweep(long now, long minute)
    {
        var last = Interlocked.Read(ref lastSweep);
        if (now - last < minute || Interlocked.CompareExchange(ref lastSweep, now, last) != last) return;
        foreach (var (key, w) in windows)
            if (now - Volatile.Read(ref w.Start) >= minute) windows.TryRemove(key, out _);
    }
}
