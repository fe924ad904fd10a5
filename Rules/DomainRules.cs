using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Rules;

/// <summary>What creating, changing and deleting a domain means: name and outgoing_ip rules, "auto" IP balancing, the maildir root after the commit.</summary>
internal sealed class DomainRules(Db db, MailTrees trees, Reconciler reconciler)
{
    public async Task<Outcome<Domain>> Create(string? requestedName, string? outgoingIp)
    {
        if (string.IsNullOrWhiteSpace(requestedName)) return Refused.Invalid("name is required");
        var name = requestedName.Trim().ToLowerInvariant();
        if (!Validate.IsDomainName(name)) return Refused.Invalid("invalid domain name", $"'{requestedName}' is not a valid DNS domain name");
        var requestedIp = outgoingIp?.Trim() ?? "";
        if (CheckIp(requestedIp) is { } ipError) return ipError;

        Domain domain;
        using (await trees.Lock())
        {
            using (var write = await db.BeginWrite())
            {
                if (DomainStore.GetByName(write, name) is not null) return Refused.Conflict("domain already exists");
                if (Resolve(write, requestedIp) is not { } ip) return AutoFailed;
                domain = DomainStore.Insert(write, name, ip);
                write.Commit();
            }
            if (trees.ProvisionDomain(name) is { } treeError)
            {
                using (var write = await db.BeginWrite())
                {
                    DomainStore.Delete(write, domain.Id); // the reference: the DB row is rolled back
                    write.Commit();
                }
                return Refused.Failed("maildir creation failed", treeError);
            }
        }
        reconciler.Request("domain created");
        return Outcome<Domain>.Done(domain);
    }

    public async Task<Outcome<Domain>> Update(long id, bool? active, string? outgoingIp)
    {
        var requestedIp = outgoingIp?.Trim();
        if (requestedIp is not null && CheckIp(requestedIp) is { } ipError) return ipError;
        Domain updated;
        using (var write = await db.BeginWrite())
        {
            if (DomainStore.Get(write, id) is not { } current) return Refused.NotFound("domain not found");
            if (Resolve(write, requestedIp ?? current.OutgoingIp) is not { } ip) return AutoFailed;
            updated = DomainStore.Update(write, id, active ?? current.Active, ip)!;
            write.Commit();
        }
        reconciler.Request("domain updated");
        return Outcome<Domain>.Done(updated);
    }

    public async Task<Outcome<Done>> Delete(long id)
    {
        var deleted = await trees.DeleteWithTree(db, write =>
        {
            if (DomainStore.Get(write, id) is not { } domain) return null;
            DomainStore.Delete(write, id); // mailboxes, aliases and overrides go by ON DELETE CASCADE
            return ("domain " + domain.Name, () => trees.Maildirs.DetachDomain(domain.Name));
        });
        if (!deleted) return Refused.NotFound("domain not found");
        reconciler.Request("domain deleted");
        return Outcome<Done>.Done(default);
    }

    static Refused? CheckIp(string ip) =>
        ip is "" or "auto" || Validate.IsIpLiteral(ip) ? null
        : Refused.Invalid("invalid outgoing_ip", "outgoing_ip must be an IP address, \"auto\" or empty");

    static readonly Refused AutoFailed = Refused.Failed("balanced-IP selection failed", "outgoing_ip \"auto\": the host has no non-loopback address");

    /// <summary>The address to store: "auto" is the host address fewest domains send from (ties: the host's own order, IPv4 first); null when there is none.</summary>
    static string? Resolve(Db.Write write, string ip)
    {
        if (ip != "auto") return ip;
        var use = DomainStore.OutgoingIpUse(write);
        return HostInfo.OutboundAddresses().OrderBy(a => use.GetValueOrDefault(a)).FirstOrDefault();
    }
}
