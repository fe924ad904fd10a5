using System.Text.Json;
using MailPanel.Core;

namespace MailPanel.Store;

/// <summary>
/// The one place the tiers are merged, field by field from <see cref="TierFields"/>: the narrowest
/// non-null value wins (override, then defaults, then, for a field whose defaults may be null, the
/// parent tier's same-named value). The mailbox row's own quota, when set (> 0), is the override of
/// quota_bytes; mailbox_defaults' 0 there means unlimited. Pure, built on one snapshot's tier rows,
/// so the single-row GETs and the mail-stack renderer (every mailbox at once) agree.
/// A row without overrides is a copy of a template (one per snapshot for domains; for mailboxes one
/// per set of equal domain values) with its own identity fields, so 100,000 plain mailboxes in
/// 10,000 plain domains cost a record copy each and two builds in all.
/// </summary>
internal sealed class Effective(GlobalConfig global, DomainDefaults domainDefaults, MailboxDefaults mailboxDefaults)
{
    static readonly TierField[] DomainFields = TierFields.Domain.Fields;
    static readonly TierField[] MailboxFields = TierFields.Mailbox.Fields;

    readonly object?[] domainValues = TierRows.DomainDefaultsRow.Values(domainDefaults, DomainFields);
    readonly object?[] mailboxValues = TierRows.MailboxDefaultsRow.Values(mailboxDefaults, MailboxFields);
    readonly Dictionary<long, MailboxEffective> mailboxTemplates = [];
    readonly Dictionary<DomainEffective, MailboxEffective> sharedTemplates = [];
    DomainEffective? domainTemplate;

    public MailboxDefaults MailboxDefaults => mailboxDefaults;

    /// <param name="overrides">The override row's values in <see cref="TierTable.Overridable"/> order, or null when it has none.</param>
    public DomainEffective Domain(Domain domain, object?[]? overrides)
    {
        if (overrides is not null) return BuildDomain(domain, overrides);
        domainTemplate ??= BuildDomain(domain, null);
        return domainTemplate with { DomainId = domain.Id, DomainName = domain.Name, OutgoingIp = domain.OutgoingIp, Active = domain.Active };
    }

    /// <param name="overrides">As for <see cref="Domain"/>.</param>
    public MailboxEffective Mailbox(MailboxBase mailbox, object?[]? overrides, DomainEffective domain)
    {
        if (overrides is not null) return BuildMailbox(mailbox, overrides, domain);
        if (!mailboxTemplates.TryGetValue(domain.DomainId, out var template))
            mailboxTemplates[domain.DomainId] = template = MailboxTemplate(mailbox, domain);
        return template with
        {
            MailboxId = mailbox.Id,
            MailboxUsername = mailbox.Username,
            QuotaBytes = mailbox.Quota > 0 ? mailbox.Quota : template.QuotaBytes,
            MailboxActive = mailbox.Active,
        };
    }

    /// <summary>
    /// The template of a domain's plain mailboxes. Domains whose resolved values are equal (all the
    /// domains without overrides, say) share one build: only their identity differs.
    /// </summary>
    MailboxEffective MailboxTemplate(MailboxBase mailbox, DomainEffective domain)
    {
        var values = domain with { DomainId = 0, DomainName = "", OutgoingIp = "", Active = false };
        if (!sharedTemplates.TryGetValue(values, out var shared))
            sharedTemplates[values] = shared = BuildMailbox(mailbox with { Quota = 0 }, null, domain);
        return shared with { DomainId = domain.DomainId, DomainName = domain.DomainName, DomainActive = domain.Active };
    }

    DomainEffective BuildDomain(Domain domain, object?[]? overrides) => TierRows.DomainEffectiveRow.Build(json =>
    {
        Write(json, "domain_id", domain.Id);
        Write(json, "domain_name", domain.Name);
        Write(json, "outgoing_ip", domain.OutgoingIp);
        Merge(json, DomainFields, overrides, null, domainValues, name => TierRows.GlobalRow.Get(global, name));
        Write(json, "active", domain.Active);
    });

    MailboxEffective BuildMailbox(MailboxBase mailbox, object?[]? overrides, DomainEffective domain) => TierRows.MailboxEffectiveRow.Build(json =>
    {
        Write(json, "mailbox_id", mailbox.Id);
        Write(json, "mailbox_username", mailbox.Username);
        Write(json, "domain_id", domain.DomainId);
        Write(json, "domain_name", domain.DomainName);
        Merge(json, MailboxFields, overrides, mailbox.Quota > 0 ? mailbox.Quota : null, mailboxValues, name => TierRows.DomainEffectiveRow.Get(domain, name));
        foreach (var name in TierFields.MailboxEffectiveDomainFields) Write(json, name, TierRows.DomainEffectiveRow.Get(domain, name));
        Write(json, "mailbox_active", mailbox.Active);
        Write(json, "domain_active", domain.Active);
    });

    /// <summary>
    /// Writes each field's winner: the override (<paramref name="overrides"/> holds the overridable
    /// fields in order; <paramref name="ownRow"/> stands for the one field that is not overridable,
    /// the mailbox row's quota), else the defaults value, else for an inheriting field the parent's.
    /// </summary>
    static void Merge(Utf8JsonWriter json, TierField[] fields, object?[]? overrides, object? ownRow, object?[] defaults, Func<string, object?> parent)
    {
        var o = 0;
        for (var i = 0; i < fields.Length; i++)
        {
            var f = fields[i];
            var own = f.Overridable ? overrides?[o++] : ownRow;
            Write(json, f.Name, own ?? defaults[i] ?? (f.Inherits ? parent(f.Name) : null));
        }
    }

    static void Write(Utf8JsonWriter json, string name, object? value) => RowShape<DomainEffective>.Write(json, name, value);
}
