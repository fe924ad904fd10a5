using System.Net;
using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>The anti-spam whitelist (section 10): one canonical spelling per entry, so duplicates are caught however they were written and the policy service matches them exactly.</summary>
internal sealed class WhitelistRules(Db db, Reconciler reconciler)
{
    public const int MaxNote = 500;

    public async Task<Outcome<WhitelistEntry>> Create(string? entryType, string? requestedValue, string? requestedNote)
    {
        if (entryType is not ("ip" or "cidr" or "domain" or "email"))
            return Refused.Invalid("entry_type must be one of ip, cidr, domain, email");
        if (string.IsNullOrWhiteSpace(requestedValue)) return Refused.Invalid("value is required");
        if (Canonical(entryType, requestedValue.Trim()) is not { } value)
            return Refused.Invalid($"invalid {entryType} value", $"'{requestedValue}' is not a valid {Describe(entryType)}");
        var note = requestedNote ?? "";
        if (note.Length > MaxNote) return Refused.Invalid($"note must be at most {MaxNote} characters");
        if (note.Any(char.IsControl)) return Refused.Invalid("note must not contain control characters");

        WhitelistEntry entry;
        using (var write = await db.BeginWrite())
        {
            if (WhitelistStore.Exists(write, entryType, value)) return Refused.Conflict("whitelist entry already exists");
            entry = WhitelistStore.Insert(write, entryType, value, note);
            write.Commit();
        }
        reconciler.Request("whitelist entry added");
        return Outcome<WhitelistEntry>.Done(entry);
    }

    public async Task<Outcome<Done>> Delete(long id)
    {
        using (var write = await db.BeginWrite())
        {
            if (!WhitelistStore.Delete(write, id)) return Refused.NotFound("whitelist entry not found");
            write.Commit();
        }
        reconciler.Request("whitelist entry deleted");
        return Outcome<Done>.Done(default);
    }

    /// <summary>
    /// The stored spelling of a value, or null when it is invalid for its type: IPs and networks in
    /// their canonical text form (so duplicates are caught however they were written), names lower-cased.
    /// </summary>
    static string? Canonical(string entryType, string value)
    {
        switch (entryType)
        {
            case "ip":
                return Validate.IsIpLiteral(value) ? IPAddress.Parse(value).ToString() : null;
            case "cidr":
                return value.Contains('/', StringComparison.Ordinal) && IpRules.TryParseRule(value, out var network) ? network.ToString() : null;
            case "domain":
                var domain = value.ToLowerInvariant();
                return Validate.IsDomainName(domain) ? domain : null;
            default:
                if (!Validate.IsEmailAddress(value)) return null;
                var at = value.LastIndexOf('@');
                return value[..at] + "@" + value[(at + 1)..].ToLowerInvariant();
        }
    }

    static string Describe(string entryType) => entryType switch
    {
        "ip" => "IPv4 or IPv6 address",
        "cidr" => "network in CIDR notation (address/prefix)",
        "domain" => "DNS domain name",
        _ => "RFC 5321 e-mail address",
    };
}
