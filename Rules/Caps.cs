using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>
/// The per-domain soft caps of the effective config (max_mailboxes, max_aliases), checked inside the
/// write transaction that would add one more, so two concurrent creates cannot both squeeze in.
/// </summary>
internal static class Caps
{
    public static Refused? Mailboxes(Db.Write write, Domain domain)
    {
        var max = MailboxStore.MaxInDomain(write, domain.Id);
        return MailboxStore.CountInDomain(write, domain.Id) >= max ? Refused.Conflict($"domain {domain.Name} has reached max_mailboxes ({max})") : null;
    }

    public static Refused? Aliases(Db.Write write, Domain domain)
    {
        var max = AliasStore.MaxInDomain(write, domain.Id);
        return AliasStore.CountInDomain(write, domain.Id) >= max ? Refused.Conflict($"domain {domain.Name} has reached max_aliases ({max})") : null;
    }
}
