using System.Text.Json;
using MailPanel.Core;

namespace MailPanel.Sys;

internal sealed record QueueRecipient(string Address, string DelayReason);

/// <summary>One queued message, in the reference's shape (section 11).</summary>
internal sealed record QueueMessage(string QueueName, string QueueId, long ArrivalTime, long MessageSize, string Sender,
    IReadOnlyList<QueueRecipient> Recipients);

internal enum PostfixFailure
{
    None,

    /// <summary>Postfix is not installed, not configured, or its mail system is down: 503.</summary>
    Unavailable,

    /// <summary>The command ran and failed: 500.</summary>
    Failed,
}

/// <summary>What a queue command did: success, or which failure and the command's own words.</summary>
internal sealed record PostfixOutcome(PostfixFailure Failure, string Error, string Detail)
{
    public static readonly PostfixOutcome Done = new(PostfixFailure.None, "", "");

    public bool Ok => Failure == PostfixFailure.None;
}

/// <summary>
/// The Postfix queue through its own tools, always with `-c SYSROOT/etc/postfix` (absolute, as
/// postqueue(1) and postsuper(1) demand): `postqueue -j` lists, `postqueue -f` flushes, `postsuper -d ID`
/// deletes one message. Never guesses: a tool that is missing or a mail system that is down is
/// reported as such, not answered with an empty queue.
/// </summary>
internal sealed class PostfixQueue(MailPaths paths, Services services)
{
    /// <summary>A large queue takes postqueue a while to walk; anything longer means showq is stuck.</summary>
    static readonly TimeSpan ListTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// sysexits.h EX_UNAVAILABLE: postqueue's "Cannot flush mail queue - mail system is down" and
    /// its fatal on a missing main.cf.
    /// </summary>
    const int ExUnavailable = 69;

    /// <summary>
    /// Postfix queue ids are short ([0-9A-F]{6,}) or long ([0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z...)
    /// (postconf(5) enable_long_queue_ids). Only letters and digits, 5 to 32 of them, may reach
    /// postsuper: that rules out its "ALL" and "-" (read ids from stdin) arguments and any option.
    /// </summary>
    public static bool IsQueueId(string id) =>
        id.Length is >= 5 and <= 32 && id.All(char.IsAsciiLetterOrDigit) && id != "ALL";

    /// <summary>
    /// Parses postqueue -j output: one JSON object per line, nothing for an empty queue. Fields the
    /// reference does not list (forced_expire, ...) are ignored; a recipient without delay_reason
    /// (active messages) gets "". A line that is not such an object is skipped and counted in <paramref name="bad"/>.
    /// </summary>
    public static List<QueueMessage> ParseJsonLines(string output, out int bad)
    {
        var messages = new List<QueueMessage>();
        bad = 0;
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (ParseJsonLine(line) is { } message) messages.Add(message);
            else bad++;
        }
        return messages;
    }

    static QueueMessage? ParseJsonLine(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            if (String(root, "queue_id") is not { Length: > 0 } id) return null;
            var recipients = new List<QueueRecipient>();
            if (root.TryGetProperty("recipients", out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var r in list.EnumerateArray())
                    if (r.ValueKind == JsonValueKind.Object)
                        recipients.Add(new QueueRecipient(String(r, "address") ?? "", String(r, "delay_reason") ?? ""));
            return new QueueMessage(String(root, "queue_name") ?? "", id, Number(root, "arrival_time"),
                Number(root, "message_size"), String(root, "sender") ?? "", recipients);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    static long Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : 0;

    /// <summary>Every queued message, oldest first (arrival_time, then queue id), so pages are stable.</summary>
    public async Task<(List<QueueMessage> Messages, int Bad, PostfixOutcome Outcome)> List(CancellationToken cancel)
    {
        var (result, outcome) = await Exec("postqueue", ["-c", paths.PostfixConfigDir, "-j"], ListTimeout, cancel);
        // With the master stopped, postqueue -j reads the queue directly and still exits 0
        // ("warning: Mail system is down -- accessing queue directly"): that is a real answer.
        if (!outcome.Ok) return ([], 0, outcome);
        var messages = ParseJsonLines(result!.Stdout, out var bad);
        messages.Sort((a, b) => a.ArrivalTime != b.ArrivalTime ? a.ArrivalTime.CompareTo(b.ArrivalTime) : string.CompareOrdinal(a.QueueId, b.QueueId));
        return (messages, bad, outcome);
    }

    /// <summary>postqueue -f: an immediate delivery attempt for every queued message (needs the master running).</summary>
    public async Task<PostfixOutcome> Flush(CancellationToken cancel) =>
        (await Exec("postqueue", ["-c", paths.PostfixConfigDir, "-f"], Run.DefaultTimeout, cancel)).Outcome;

    /// <summary>
    /// postsuper -d ID. postsuper exits 0 even when it deleted nothing (an unknown id only prints
    /// "Deleted: 0 messages"), so success is its own "Deleted: 1 message" line.
    /// </summary>
    public async Task<PostfixOutcome> Delete(string queueId, CancellationToken cancel)
    {
        if (!IsQueueId(queueId)) throw new ArgumentException("not a queue id", nameof(queueId)); // the API validates first
        var (result, outcome) = await Exec("postsuper", ["-c", paths.PostfixConfigDir, "-d", queueId], Run.DefaultTimeout, cancel);
        if (!outcome.Ok) return outcome;
        var said = Said(result!);
        return said.Contains("Deleted: 1 message", StringComparison.Ordinal)
            ? PostfixOutcome.Done
            : new PostfixOutcome(PostfixFailure.Failed, "message not deleted",
                $"postsuper deleted nothing: queue id {queueId} is not in the queue ({said})");
    }

    async Task<(RunResult? Result, PostfixOutcome Outcome)> Exec(string tool, string[] args, TimeSpan timeout, CancellationToken cancel)
    {
        if (services.Which(tool) is not { } binary)
            return (null, new PostfixOutcome(PostfixFailure.Unavailable, "postfix is not installed", $"{tool} not found on PATH {services.SearchPath}"));
        if (!File.Exists(Path.Combine(paths.PostfixConfigDir, "main.cf")))
            return (null, new PostfixOutcome(PostfixFailure.Unavailable, "postfix is not configured",
                $"{Path.Combine(paths.PostfixConfigDir, "main.cf")} does not exist (no reconcile has written it yet)"));
        var result = await Run.Exec(binary, args, timeout, cancel: cancel);
        if (result.Ok) return (result, PostfixOutcome.Done);
        var detail = $"{tool} -c {paths.PostfixConfigDir} {string.Join(' ', args.Skip(2))}: " +
                     (result.TimedOut ? $"timed out after {timeout.TotalSeconds:0} s" : $"exit code {result.ExitCode}: {Said(result)}");
        return result.TimedOut || result.ExitCode == ExUnavailable
            ? (result, new PostfixOutcome(PostfixFailure.Unavailable, "postfix mail system is unavailable", detail))
            : (result, new PostfixOutcome(PostfixFailure.Failed, $"{tool} failed", detail));
    }

    /// <summary>What a Postfix tool said: stderr and stdout, one line.</summary>
    static string Said(RunResult result) =>
        string.Join("; ", (result.Stderr + "\n" + result.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
