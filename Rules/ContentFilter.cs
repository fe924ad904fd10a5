using System.Globalization;
using System.Net;
using MailPanel.Core;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Rules;

/// <summary>What happens to a message for one recipient.</summary>
internal enum FilterAction { Deliver, Tag, Quarantine, Reject }

/// <summary>One envelope recipient's effective spam_threshold, spam_action and clamav_action.</summary>
internal sealed record RecipientPolicy(string Address, double Threshold, string SpamAction, string VirusAction);

/// <summary>
/// The milter's answer at end of message: headers to add, then one of: reject the message
/// (<see cref="Reject"/>), withhold it from <see cref="Quarantined"/> (all of them: discard), or deliver.
/// </summary>
internal sealed record FilterDecision(
    IReadOnlyList<(string Name, string Value)> Headers,
    string? Reject,
    IReadOnlyList<string> Quarantined,
    bool QuarantineAll,
    string Reason,
    IReadOnlyDictionary<string, FilterAction> Actions);

/// <summary>
/// Spam and virus decisions for inbound mail (the milter in Api/MilterServer.cs asks). Per
/// recipient, from its effective config (mailbox -> domain -> defaults): a virus (clamd) means
/// clamav_action, else a SpamAssassin score at or over spam_threshold means spam_action, else the
/// message is delivered. Every recipient rejecting -> 550 5.7.1. A rejecting recipient among
/// others that accept is quarantined instead: after DATA the SMTP reply is one for the whole
/// message, and a recipient must never lose mail silently. Quarantine withholds the message from
/// its recipients and stores it (Rules/QuarantineRules.cs). A scanner that cannot be reached never
/// holds mail: the message is delivered, with a header saying it was not checked.
/// </summary>
internal sealed class ContentFilter(Db db, MailPaths paths)
{
    /// <summary>Larger messages are not sent to spamd (spamc's own default is 500 KB; spam is small).</summary>
    public const int MaxSpamBytes = 2 << 20;

    public const int LocalSpamdPort = 783;

    public string ClamdSocket => paths.ClamdSocket;

    /// <summary>spam_remote_host:spam_remote_port when a remote host is set, else the local spamd (127.0.0.1:783).</summary>
    public (string Host, int Port) Spamd()
    {
        var g = ConfigStore.Global.Read(db);
        return g.SpamRemoteHost.Length > 0 ? (g.SpamRemoteHost, (int)g.SpamRemotePort) : ("127.0.0.1", LocalSpamdPort);
    }

    /// <summary>Clients in relay_networks send our own mail: not judged (like OpenDMARC's IgnoreHosts).</summary>
    public bool IsInternal(string clientAddress) => IpRules.InList(clientAddress, ConfigStore.Global.Read(db).RelayNetworks);

    /// <summary>A recipient's settings: a mailbox's effective values, else its domain's (an alias), else domain_defaults.</summary>
    public RecipientPolicy Policy(string address)
    {
        var lower = address.ToLowerInvariant();
        var at = lower.LastIndexOf('@');
        if (at > 0 && at < lower.Length - 1)
        {
            var (local, domain) = (lower[..at], lower[(at + 1)..]);
            if (PolicyStore.MailboxId(db, local, domain) is { } id && ConfigStore.EffectiveMailbox(db, id) is { } m)
                return new RecipientPolicy(lower, m.SpamThreshold, m.SpamAction, m.ClamavAction);
            if (DomainStore.GetByName(db, domain) is { } d && ConfigStore.EffectiveDomain(db, d.Id) is { } e)
                return new RecipientPolicy(lower, e.SpamThreshold, e.SpamAction, e.ClamavAction);
        }
        var defaults = ConfigStore.DomainDefaults.Read(db);
        return new RecipientPolicy(lower, defaults.SpamThreshold, defaults.SpamAction, defaults.ClamavAction);
    }

    static FilterAction Parse(string action) => action switch
    {
        "reject" => FilterAction.Reject,
        "quarantine" => FilterAction.Quarantine,
        _ => FilterAction.Tag,
    };

    /// <summary>A score as the headers carry it: invariant, exactly one decimal ("8.3", "-1.2", "1003.5").</summary>
    public static string Score(double score) => score.ToString("0.0", CultureInfo.InvariantCulture);

    /// <param name="spamError">Why there is no spam verdict (spamd unreachable, message too large); null when <paramref name="spam"/> is set.</param>
    /// <param name="virusError">Why there is no virus verdict; null when <paramref name="virus"/> is set or clamd is not installed (<paramref name="clamd"/> false).</param>
    public static FilterDecision Decide(IReadOnlyList<RecipientPolicy> recipients, SpamVerdict? spam, string? spamError,
        bool clamd, VirusVerdict? virus, string? virusError)
    {
        var infected = virus?.Virus;
        var actions = new Dictionary<string, FilterAction>(StringComparer.OrdinalIgnoreCase);
        foreach (var r in recipients)
        {
            actions[r.Address] = infected is not null ? Parse(r.VirusAction)
                : spam is not null && spam.Score >= r.Threshold ? Parse(r.SpamAction)
                : FilterAction.Deliver;
        }
        var reason = infected is not null ? "virus" : "spam";
        var allReject = recipients.Count > 0 && recipients.All(r => actions[r.Address] == FilterAction.Reject);
        if (!allReject)
            foreach (var r in recipients.Where(r => actions[r.Address] == FilterAction.Reject)) actions[r.Address] = FilterAction.Quarantine;
        var withheld = recipients.Where(r => actions[r.Address] is FilterAction.Quarantine or FilterAction.Reject).Select(r => r.Address)
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var delivered = recipients.Where(r => !withheld.Contains(r.Address, StringComparer.OrdinalIgnoreCase)).ToList();
        // The headers speak for the recipients that get the message: the lowest of their thresholds.
        var required = (delivered.Count > 0 ? delivered : recipients).Select(r => r.Threshold).DefaultIfEmpty(5.0).Min();

        var headers = new List<(string, string)>();
        if (spam is not null)
        {
            var flagged = spam.Score >= required;
            headers.Add(("X-Spam-Score", Score(spam.Score)));
            if (flagged) headers.Add(("X-Spam-Flag", "YES"));
            headers.Add(("X-Spam-Status", $"{(flagged ? "Yes" : "No")}, score={Score(spam.Score)} required={Score(required)} tests={string.Join(',', spam.Tests)}"));
        }
        else
        {
            headers.Add(("X-Spam-Status", $"Unchecked ({spamError})"));
        }
        if (infected is not null) headers.Add(("X-Virus-Status", $"Infected ({infected})"));
        else if (virus is not null) headers.Add(("X-Virus-Status", "Clean"));
        else if (clamd) headers.Add(("X-Virus-Status", $"Unchecked ({virusError})"));

        string? reject = null;
        if (allReject)
            reject = infected is not null
                ? $"550 5.7.1 Message rejected: it contains a virus ({infected})"
                : $"550 5.7.1 Message rejected as spam (score {Score(spam!.Score)}, required {Score(required)})";
        return new FilterDecision(headers, reject, allReject ? [] : withheld, !allReject && withheld.Count > 0 && delivered.Count == 0, reason, actions);
    }

    /// <summary>Headers the milter owns: removed from incoming mail (nobody forges a verdict) and from a released message.</summary>
    public static bool IsVerdictHeader(string name) =>
        name.StartsWith("X-Spam-", StringComparison.OrdinalIgnoreCase) || name.Equals("X-Virus-Status", StringComparison.OrdinalIgnoreCase);
}
