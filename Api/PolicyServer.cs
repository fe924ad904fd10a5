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
    const int MaxLine = 8192, MaxAttributes = 200;
    const string Failed = "451 4.3.5 Policy service error, try again later";

    public override string SocketPath => Path.Combine(paths.PostfixQueueDir, "private", SocketName);

    protected override string What => "policy service";

    protected override async Task Serve(Socket client, CancellationToken stop)
    {
        using (client)
        using (var stream = new NetworkStream(client, ownsSocket: false))
        using (var reader = new StreamReader(stream, Encoding.UTF8))
        {
            var request = new Dictionary<string, string>(StringComparer.Ordinal);
            var session = new PolicyRules.Session();
            try
            {
                while (await reader.ReadLineAsync(stop) is { } line)
                {
                    if (line.Length > MaxLine || request.Count > MaxAttributes) return; // not Postfix: hang up
                    if (line.Length > 0)
                    {
                        var eq = line.IndexOf('=', StringComparison.Ordinal);
                        if (eq > 0) request[line[..eq]] = line[(eq + 1)..];
                        continue;
                    }
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
                    await stream.WriteAsync(Encoding.UTF8.GetBytes($"action={action}\n\n"), stop);
                    request.Clear();
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // smtpd went away or the daemon is stopping
            }
        }
    }
}
