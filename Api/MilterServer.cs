using System.Net.Sockets;
using System.Text;
using MailPanel.Core;
using MailPanel.Rules;
using MailPanel.Sys;

namespace MailPanel.Api;

/// <summary>
/// The content filter: a milter (Sendmail milter protocol v6, Core/Milter.cs) on a unix socket in
/// Postfix's private/ directory, served by the daemon itself, last in smtpd_milters (after OpenDKIM
/// and OpenDMARC). It judges inbound mail only: SASL-authenticated sessions ({auth_authen}) and
/// clients in relay_networks are accepted unlooked-at. At end of message it asks spamd and, when
/// clamd's socket is there, clamd, and answers per recipient from the effective config
/// (Rules/ContentFilter.cs): reject, quarantine (DELRCPT, or DISCARD when every recipient is
/// withheld), or deliver with the verdict headers; incoming X-Spam-* headers are deleted first.
/// Postfix's milter_default_action = accept: while the daemon is down mail flows unchecked, never lost.
/// </summary>
internal sealed class MilterServer(MailPaths paths, ContentFilter filter, QuarantineRules quarantine, PolicyRules policy, ILogger<MilterServer> log)
    : PrivateSocketServer(log)
{
    /// <summary>A message is buffered for the scanners up to this size; a larger one passes unchecked (clamd's StreamMaxLength is 25 MB).</summary>
    public const int MaxBuffered = 32 << 20;

    const uint WantedActions = Milter.ActionAddHeaders | Milter.ActionChangeHeaders | Milter.ActionDeleteRcpt;
    const uint WantedSkips = Milter.NoHelo | Milter.NoUnknown | Milter.NoData;

    public override string SocketPath => paths.ContentFilterSocket;

    /// <summary>Messages judged since start (tests wait on it).</summary>
    public long Judged => Interlocked.Read(ref judged);
    long judged;

    protected override string What => "content filter (milter)";

    /// <summary>One smtpd's milter connection: a client connection with any number of messages.</summary>
    sealed class Session
    {
        public string Client = "";
        public readonly Dictionary<byte, Dictionary<string, string>> Macros = [];
        public string Sender = "";
        public readonly List<string> Recipients = [];
        public readonly List<string> HeaderNames = [];
        public MemoryStream Message = new();
        public bool TooLarge, Whitelisted;

        public string Macro(byte command, string name) => Macros.TryGetValue(command, out var m) && m.TryGetValue(name, out var v) ? v : "";

        public void ResetMessage()
        {
            Sender = "";
            Recipients.Clear();
            HeaderNames.Clear();
            Message = new MemoryStream();
            TooLarge = Whitelisted = false;
        }

        public void Append(ReadOnlySpan<byte> bytes)
        {
            if (TooLarge) return;
            if (Message.Length + bytes.Length > MaxBuffered)
            {
                TooLarge = true;
                Message = new MemoryStream();
                return;
            }
            Message.Write(bytes);
        }
    }

    protected override async Task Serve(Socket client, CancellationToken stop)
    {
        using (client)
        await using (var stream = new NetworkStream(client, ownsSocket: false))
        {
            var session = new Session();
            try
            {
                while (await Milter.Read(stream, stop) is { } packet)
                {
                    if (await Handle(packet, session, stop) is not { } reply) continue;
                    if (reply.Length == 0) return; // quit
                    await stream.WriteAsync(reply, stop);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // smtpd went away or the daemon is stopping
            }
            catch (InvalidDataException e)
            {
                log.LogWarning("milter: {Error}; connection closed", e.Message);
            }
        }
    }

    static readonly byte[] Continue = Milter.Reply(Milter.Continue), Accept = Milter.Reply(Milter.Accept);

    /// <summary>The reply to one packet: null for none (macros, abort), empty to hang up (quit).</summary>
    async Task<byte[]?> Handle(MilterPacket packet, Session session, CancellationToken stop)
    {
        var data = packet.Data;
        switch (packet.Command)
        {
            case Milter.OptionNegotiation:
                var (_, actions, protocol) = Milter.ParseOptions(data);
                return Milter.Options(Milter.Version, WantedActions & actions, WantedSkips & protocol);
            case Milter.Macro:
                var (command, values) = Milter.ParseMacros(data);
                session.Macros[command] = values;
                return null;
            case Milter.Connect:
                session.Client = Milter.ParseConnect(data).Address;
                return filter.IsInternal(session.Client) ? Accept : Continue; // our own mail: not judged
            case Milter.Mail:
                session.ResetMessage();
                session.Sender = Milter.Address(data);
                if (session.Macro(Milter.Mail, "{auth_authen}").Length > 0) return Accept; // a mailbox submitting
                session.Whitelisted = policy.Whitelisted(session.Client, session.Sender.ToLowerInvariant());
                return Continue;
            case Milter.Rcpt:
                session.Recipients.Add(Milter.Address(data));
                return Continue;
            case Milter.Header:
                var (name, raw) = Milter.RawHeader(data);
                session.HeaderNames.Add(name);
                session.Append(raw); // the bytes as sent: an 8-bit header reaches spamd and the quarantine unchanged
                return Continue;
            case Milter.EndOfHeaders:
                session.Append("\r\n"u8);
                return Continue;
            case Milter.Body:
                session.Append(data);
                return Continue;
            case Milter.EndOfBody:
                session.Append(data);
                try
                {
                    return await Judge(session, stop);
                }
                finally
                {
                    session.ResetMessage();
                }
            case Milter.Abort:
                session.ResetMessage();
                return null;
            case Milter.QuitNewConnection:
                session.ResetMessage();
                session.Macros.Clear();
                session.Client = "";
                return null;
            case Milter.Quit:
                return [];
            default:
                return Continue; // HELO, DATA, unknown commands (skipped when negotiated)
        }
    }

    /// <summary>End of message: deletes forged verdict headers, asks the scanners, answers per recipient.</summary>
    async Task<byte[]> Judge(Session session, CancellationToken stop)
    {
        Interlocked.Increment(ref judged);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var queueId = session.Macro(Milter.EndOfBody, "i");
        using var replies = new MemoryStream();
        foreach (var group in session.HeaderNames.Where(ContentFilter.IsVerdictHeader).GroupBy(n => n, StringComparer.OrdinalIgnoreCase))
            for (var i = group.Count(); i >= 1; i--) replies.Write(Milter.ChangeHeaderReply(i, group.Key, "")); // last first: indexes stay valid
        if (session.Whitelisted)
        {
            replies.Write(Continue);
            return replies.ToArray();
        }

        var message = session.Message.ToArray();
        SpamVerdict? spam = null;
        VirusVerdict? virus = null;
        string? spamError = null, virusError = null;
        if (session.TooLarge) spamError = virusError = $"larger than {MaxBuffered >> 20} MB";
        else if (message.Length > ContentFilter.MaxSpamBytes) spamError = $"larger than {ContentFilter.MaxSpamBytes >> 20} MB";
        var (host, port) = filter.Spamd();
        var clamd = File.Exists(filter.ClamdSocket);
        var spamTask = spamError is null ? Scanners.Spamd(host, port, message, stop) : null;
        var virusTask = clamd && virusError is null ? Scanners.Clamd(filter.ClamdSocket, message, stop) : null;
        if (spamTask is not null)
        {
            try { spam = await spamTask; }
            catch (ScannerUnavailable e) { spamError = e.Message; }
        }
        if (virusTask is not null)
        {
            try { virus = await virusTask; }
            catch (ScannerUnavailable e) { virusError = e.Message; }
        }
        if (spamError is not null) log.LogWarning("milter {QueueId}: not checked for spam, delivered as is: {Why}", queueId, spamError);
        if (virusError is not null && clamd) log.LogWarning("milter {QueueId}: not checked for viruses, delivered as is: {Why}", queueId, virusError);

        var decision = ContentFilter.Decide([.. session.Recipients.Select(filter.Policy)], spam, spamError, clamd, virus, virusError);
        log.LogInformation("milter {QueueId}: from <{Sender}> ({Client}) score {Score}{Virus}: {Actions} (scanned in {Ms} ms)", queueId, session.Sender,
            session.Client, spam is null ? "none" : ContentFilter.Score(spam.Score), virus?.Virus is { } v ? $", virus {v}" : "",
            string.Join(", ", decision.Actions.Select(a => $"{a.Key} {a.Value.ToString().ToLowerInvariant()}")), clock.ElapsedMilliseconds);
        if (decision.Reject is { } reject) return Milter.Code(reject);

        if (decision.Quarantined.Count > 0)
        {
            try
            {
                var entry = await quarantine.Add(message, session.Sender, decision.Quarantined, spam?.Score, decision.Reason, virus?.Virus ?? "", stop);
                log.LogInformation("milter {QueueId}: quarantined as {Id} for {Recipients}", queueId, entry.Id, string.Join(", ", decision.Quarantined));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
            {
                log.LogError("milter {QueueId}: quarantine failed, message deferred: {Error}", queueId, e.Message);
                return Milter.Code("451 4.3.0 Temporary failure storing the message, try again later");
            }
            if (decision.QuarantineAll) return Milter.Reply(Milter.Discard);
            foreach (var r in session.Recipients.Where(r => decision.Quarantined.Contains(r, StringComparer.OrdinalIgnoreCase)))
                replies.Write(Milter.DeleteRcptReply(r));
        }
        foreach (var (name, value) in decision.Headers) replies.Write(Milter.AddHeaderReply(name, value));
        replies.Write(Continue);
        return replies.ToArray();
    }
}
