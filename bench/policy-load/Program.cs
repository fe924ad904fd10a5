// bench/policy.sh's load client. Each of N connections behaves like one smtpd: it keeps its
// connection and sends one request at a time, with the attributes Postfix 3.x sends
// (SMTPD_POLICY_README). Per message: an inbound RCPT on port 25 to a hosted mailbox (greylisting
// on; a triplet that already passed, or a whitelisted sender domain every 4th message), then a
// submission RCPT and END-OF-MESSAGE from a SASL user. Every answer must be DUNNO: anything else is
// counted and makes the exit status 1.
//
// RATE 0: each connection sends its next request as soon as the answer is in (the most the service
// can answer); RATE > 0: the connections together send RATE requests a second on a fixed schedule,
// so the latency is that of a service at that load rather than of a saturated one. The latency of
// a request is from its send to the end of its answer.
//
// Usage: policy-load SOCKET CONNECTIONS SECONDS DOMAINS GREYLIST_WAIT_SECONDS RATE
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

var socketPath = args[0];
var connections = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var seconds = double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
var domains = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
var greylistWait = double.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture);
var rate = double.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture);
const int Triplets = 16;

var clients = new Client[connections];
for (var c = 0; c < connections; c++) clients[c] = await Client.Connect(socketPath, c, domains);

// Warm-up: every (client, sender, recipient) triplet once, so greylisting has seen it; after the delay it passes.
await Task.WhenAll(clients.Select(async client =>
{
    for (var j = 0; j < Triplets; j++) await client.Ask(client.Inbound(j, whitelisted: false, $"warm.{client.Id}.{j}"));
}));
await Task.Delay(TimeSpan.FromSeconds(greylistWait));
await Task.WhenAll(clients.Select(async client =>
{
    for (var j = 0; j < Triplets; j++)
    {
        var answer = await client.Ask(client.Inbound(j, whitelisted: false, $"pass.{client.Id}.{j}"));
        if (answer != "action=DUNNO") throw new InvalidOperationException($"triplet did not pass greylisting: {answer}");
    }
}));

var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
var started = Stopwatch.GetTimestamp();
var interval = rate > 0 ? (long)(connections * Stopwatch.Frequency / rate) : 0; // per connection, in ticks
await Task.WhenAll(clients.Select(client => Task.Run(() => client.Run(stopAt, interval))));
var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;

var all = clients.SelectMany(c => c.Latencies).Order().ToArray();
var unexpected = clients.Sum(c => c.Unexpected);
double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
double At(double q) => Ms(all[Math.Min(all.Length - 1, (int)Math.Ceiling(q * all.Length) - 1)]);
Console.WriteLine(FormattableString.Invariant(
    $"{(rate > 0 ? $"paced at {rate:F0} req/s: " : "unpaced: ")}{all.Length} requests over {connections} connections in {elapsed:F1} s: {all.Length / elapsed:F0} req/s, p50 {At(0.50):F3} ms, p99 {At(0.99):F3} ms, max {Ms(all[^1]):F3} ms, answers other than DUNNO: {unexpected}"));
var first = clients.Select(c => c.FirstUnexpected).FirstOrDefault(u => u is not null);
if (first is not null) Console.WriteLine($"first unexpected answer: {first}");
return unexpected == 0 ? 0 : 1;

sealed class Client(Socket socket, int id, int domains)
{
    readonly byte[] buffer = new byte[4096];
    public int Id => id;
    public List<long> Latencies { get; } = new(200_000);
    public int Unexpected { get; private set; }
    public string? FirstUnexpected { get; private set; }

    public static async Task<Client> Connect(string path, int id, int domains)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return new Client(socket, id, domains);
    }

    string ClientAddress => $"198.51.{id % 250}.10";

    string Common(string state, string instance, string sender, string recipient, string client, string sasl, string context, int port) => $"""
        request=smtpd_access_policy
        protocol_state={state}
        protocol_name=ESMTP
        helo_name=mx{instance.Length}.sender.example
        queue_id={(state == "END-OF-MESSAGE" ? "4ZK9xT0mQbz1rVf" : "")}
        sender={sender}
        recipient={recipient}
        recipient_count={(state == "END-OF-MESSAGE" ? "1" : "0")}
        client_address={client}
        client_name=unknown
        reverse_client_name=unknown
        instance={instance}
        sasl_method={(sasl.Length > 0 ? "PLAIN" : "")}
        sasl_username={sasl}
        sasl_sender=
        size=2048
        ccert_subject=
        ccert_issuer=
        ccert_fingerprint=
        ccert_pubkey_fingerprint=
        encryption_protocol=TLSv1.3
        encryption_cipher=TLS_AES_256_GCM_SHA384
        encryption_keysize=256
        etrn_domain=
        stress=
        client_port={40000 + id}
        policy_context={context}
        server_address=127.0.0.1
        server_port={port}
        compatibility_level=3.6
        mail_version=3.7.11


        """;

    /// <summary>Port 25: triplet j of this connection (a hosted mailbox spread over the seeded domains).</summary>
    public string Inbound(int j, bool whitelisted, string instance) => Common("RCPT", instance,
        whitelisted ? $"bot{id}@friends.example" : $"news{id}@sender{id}.example",
        $"user{j % 10}@big{(id * 37 + j * 7) % domains:D5}.example", ClientAddress, "", "", 25);

    string Sasl => $"user{id % 10}@big{id % domains:D5}.example";

    public string SubmissionRcpt(string instance, int m) => Common("RCPT", instance, Sasl, $"to{m % 50}@dest{m % 7}.example", "127.0.0.1", Sasl, "submission", 587);

    public string SubmissionEnd(string instance, int m) => Common("END-OF-MESSAGE", instance, Sasl, $"to{m % 50}@dest{m % 7}.example", "127.0.0.1", Sasl, "submission", 587);

    public async Task<string> Ask(string request)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(request), SocketFlags.None);
        var length = 0;
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None);
            if (n == 0) throw new IOException("the policy service closed the connection");
            length += n;
            if (length >= 2 && buffer[length - 1] == '\n' && buffer[length - 2] == '\n') return Encoding.UTF8.GetString(buffer, 0, length - 2);
        }
    }

    long next;

    async Task Timed(string request, long interval)
    {
        if (interval > 0)
        {
            // The schedule, not the last answer, says when to send: a late answer is not hidden by sending later.
            next = next == 0 ? Stopwatch.GetTimestamp() + Random.Shared.NextInt64(interval) : next + interval;
            var wait = next - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
        }
        var t0 = Stopwatch.GetTimestamp();
        var answer = await Ask(request);
        Latencies.Add(Stopwatch.GetTimestamp() - t0);
        if (answer != "action=DUNNO")
        {
            Unexpected++;
            FirstUnexpected ??= answer;
        }
    }

    public async Task Run(long stopAt, long interval)
    {
        for (var m = 0; Stopwatch.GetTimestamp() < stopAt; m++)
        {
            await Timed(Inbound(m % 16, whitelisted: m % 4 == 3, $"in.{id}.{m}"), interval);
            await Timed(SubmissionRcpt($"sub.{id}.{m}", m), interval);
            await Timed(SubmissionEnd($"sub.{id}.{m}", m), interval);
        }
    }
}
