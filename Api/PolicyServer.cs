using System.Net.Sockets;
using System.Text;
using MailPanel.Core;
using MailPanel.Rules;

namespace MailPanel.Api;

/// <summary>
/// The policy service: Postfix's policy delegation protocol (name=value lines, an empty line ends a
/// request; the answer is "action=..." and an empty line) on a unix socket in Postfix's private/
/// directory, served by the daemon itself (README: why not a separate process). Each smtpd keeps its
/// connection and sends many requests over it. Anything that goes wrong answers a 4xx, so Postfix
/// defers the mail and never accepts it unchecked; while the daemon is down Postfix's own
/// default_action (rendered as 451) does the same.
/// </summary>
internal sealed class PolicyServer(MailPaths paths, PolicyRules rules, ILogger<PolicyServer> log) : PrivateSocketServer(log)
{
    public const string SocketName = "mailpanel-policy";
    /// <summary>The largest request read (all its lines): Postfix's own are well under 4 KB.</summary>
    public const int MaxRequest = 64 * 1024;
    const string Failed = "451 4.3.5 Policy service error, try again later";

    public override string SocketPath => Path.Combine(paths.PostfixQueueDir, "private", SocketName);

    protected override string What => "policy service";

    /// <summary>
    /// One smtpd's connection, read as bytes (no decoder that would quietly mend bad input). The
    /// rules for input Postfix never sends: a request (its lines and the empty line) over
    /// <see cref="MaxRequest"/> bytes is answered DEFER_IF_PERMIT and the connection closed, nothing
    /// more is read; a request with a NUL, invalid UTF-8 or a line that is not name=value, or one
    /// without request=smtpd_access_policy and a protocol_state, is answered DEFER_IF_PERMIT and the
    /// connection keeps serving; end of input inside a request closes it without an answer.
    /// </summary>
    protected override async Task Serve(Socket client, CancellationToken stop)
    {
        using (client)
        {
            var buffer = new byte[MaxRequest + 1]; // one byte past the limit: an overlong request shows itself
            int start = 0, end = 0, requestBytes = 0;
            var request = new Dictionary<string, string>(StringComparer.Ordinal);
            string? malformed = null;
            var session = new PolicyRules.Session();
            try
            {
                while (true)
                {
                    int newline;
                    while ((newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n')) >= 0)
                    {
                        var line = buffer.AsSpan(start, newline);
                        start += newline + 1;
                        requestBytes += newline + 1;
                        if (requestBytes > MaxRequest) break;
                        if (line.Length > 0)
                        {
                            malformed ??= Attribute(line, request);
                            continue;
                        }
                        var why = malformed
                            ?? (request.GetValueOrDefault("request") != "smtpd_access_policy" ? "not an smtpd_access_policy request"
                            : string.IsNullOrEmpty(request.GetValueOrDefault("protocol_state")) ? "no protocol_state" : null);
                        if (why is not null) log.LogWarning("malformed policy request: {Why}", why);
                        var action = why is not null ? Malformed(why) : await Decide(request, session);
                        await client.SendAsync(Encoding.UTF8.GetBytes($"action={action}\n\n"), SocketFlags.None, stop);
                        (malformed, requestBytes) = (null, 0);
                        request.Clear();
                    }
                    if (requestBytes + (end - start) > MaxRequest)
                    {
                        log.LogWarning("policy request over {Max} bytes: answered and closed", MaxRequest);
                        await client.SendAsync(Encoding.UTF8.GetBytes($"action={Malformed($"request over {MaxRequest} bytes")}\n\n"), SocketFlags.None, stop);
                        return;
                    }
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    (end, start) = (end - start, 0);
                    var read = await client.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, stop);
                    if (read == 0) return; // smtpd closed; inside a request (truncated) there is nothing to answer
                    end += read;
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // smtpd went away or the daemon is stopping
            }
        }
    }

    /// <summary>
    /// The attributes the rules and the log read; Postfix sends some 30 and the others are checked
    /// but not kept (no strings made for them on the hot path).
    /// </summary>
    static readonly (byte[] Name, string Key)[] Kept = [.. new[]
    {
        "request", "protocol_state", "instance", "sasl_username", "sender", "recipient", "client_address", "size",
    }.Select(n => (Encoding.ASCII.GetBytes(n), n))];

    /// <summary>Checks one name=value line and keeps it when the rules read it; returns why it is malformed, or null.</summary>
    static string? Attribute(ReadOnlySpan<byte> line, Dictionary<string, string> request)
    {
        if (line.Contains((byte)0)) return "NUL byte";
        if (!System.Text.Unicode.Utf8.IsValid(line)) return "invalid UTF-8";
        var eq = line.IndexOf((byte)'=');
        if (eq <= 0) return "a line that is not name=value";
        foreach (var (name, key) in Kept)
        {
            if (!line[..eq].SequenceEqual(name)) continue;
            request[key] = Encoding.UTF8.GetString(line[(eq + 1)..]);
            break;
        }
        return null;
    }

    static string Malformed(string why) => $"DEFER_IF_PERMIT 4.3.5 Malformed policy request ({why}), try again later";

    async Task<string> Decide(Dictionary<string, string> request, PolicyRules.Session session)
    {
        string action;
        try { action = await rules.Decide(request, session); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError("policy request failed ({State}, {Recipient}): {Error}",
                request.GetValueOrDefault("protocol_state"), request.GetValueOrDefault("recipient"), e.Message);
            action = Failed;
        }
        if (action != PolicyRules.Dunno)
            log.LogInformation("policy: {Action} for {Client} {Sender} -> {Recipient}{Sasl}", action,
                request.GetValueOrDefault("client_address"), request.GetValueOrDefault("sender"), request.GetValueOrDefault("recipient"),
                request.GetValueOrDefault("sasl_username") is { Length: > 0 } u ? $" (sasl {u})" : "");
        return action;
    }
}
