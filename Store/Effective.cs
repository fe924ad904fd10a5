using MailPanel.Core;

namespace MailPanel.Store;

/// <summary>
/// The one place the tiers are merged: the narrowest non-null value wins. Pure, so the single-row
/// GETs and the mail-stack renderer (every mailbox at once, see ConfigStore.ResolveAll) agree.
/// </summary>
internal static class Effective
{
    public static DomainEffective Domain(Domain domain, DomainOverrides o, DomainDefaults d, GlobalConfig g) => new(
        domain.Id,
        domain.Name,
        domain.OutgoingIp,
        o.QuotaTotalBytes ?? d.QuotaTotalBytes,
        o.MaxMailboxes ?? d.MaxMailboxes,
        o.MaxAliases ?? d.MaxAliases,
        o.MessageSizeLimit ?? d.MessageSizeLimit ?? g.MessageSizeLimit,
        o.DkimEnabled ?? d.DkimEnabled,
        o.SpfPolicy ?? d.SpfPolicy,
        o.DmarcPolicy ?? d.DmarcPolicy,
        o.SpamThreshold ?? d.SpamThreshold,
        o.SpamAction ?? d.SpamAction,
        o.ClamavAction ?? d.ClamavAction,
        o.GreylistingEnabled ?? d.GreylistingEnabled,
        o.RequireTlsInbound ?? d.RequireTlsInbound,
        domain.Active);

    /// <summary>
    /// The mailbox row's own quota wins when it is set (> 0); 0 there means "use mailbox_defaults",
    /// whose 0 in turn means unlimited.
    /// </summary>
    public static MailboxEffective Mailbox(MailboxBase m, MailboxOverrides o, MailboxDefaults d, DomainEffective domain) => new(
        m.Id,
        m.Username,
        m.DomainId,
        domain.DomainName,
        m.Quota > 0 ? m.Quota : d.QuotaBytes,
        o.EnabledSmtp ?? d.EnabledSmtp,
        o.EnabledImap ?? d.EnabledImap,
        o.EnabledPop3 ?? d.EnabledPop3,
        o.MaxSendPerDay ?? d.MaxSendPerDay,
        o.MaxRecipientsPerMessage ?? d.MaxRecipientsPerMessage,
        o.MessageSizeLimit ?? d.MessageSizeLimit ?? domain.MessageSizeLimit,
        o.SpamThreshold ?? d.SpamThreshold ?? domain.SpamThreshold,
        o.SpamAction ?? d.SpamAction ?? domain.SpamAction,
        o.AutoJunkThreshold ?? d.AutoJunkThreshold,
        o.VacationEnabled ?? d.VacationEnabled,
        o.VacationMessage ?? d.VacationMessage,
        o.ForwardTo ?? d.ForwardTo,
        o.ForwardKeepCopy ?? d.ForwardKeepCopy,
        o.RequireTlsClient ?? d.RequireTlsClient,
        domain.ClamavAction,
        domain.GreylistingEnabled,
        domain.RequireTlsInbound,
        domain.DkimEnabled,
        domain.SpfPolicy,
        domain.DmarcPolicy,
        m.Active,
        domain.Active);
}
