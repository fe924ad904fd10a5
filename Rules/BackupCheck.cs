using MailPanel.Core;
using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>
/// Validates a whole backup document before anything is written: field rules (the same validators
/// the resource routes use; for the tiers and overrides the routes' own <see cref="ConfigRules"/>),
/// uniqueness the schema would enforce, and every foreign key against the document itself. Returns the first problem as "path: message" (e.g. "mailboxes[3].username: ..."),
/// or null when the document can be restored.
/// </summary>
internal static class BackupCheck
{
    const int MaxText = 64 * 1024;

    public static string? Check(BackupDocument doc)
    {
        if (!Clock.IsRfc3339(doc.CreatedAt)) return "created_at: must be an RFC 3339 UTC timestamp";
        foreach (var (name, value) in new (string, object?)[]
                 {
                     ("domains", doc.Domains), ("mailboxes", doc.Mailboxes), ("aliases", doc.Aliases), ("global_config", doc.GlobalConfig),
                     ("domain_defaults", doc.DomainDefaults), ("mailbox_defaults", doc.MailboxDefaults), ("domain_overrides", doc.DomainOverrides),
                     ("mailbox_overrides", doc.MailboxOverrides), ("tls_certs", doc.TlsCerts), ("dkim_keys", doc.DkimKeys),
                     ("antispam_whitelist", doc.AntispamWhitelist),
                 })
            if (value is null) return $"{name}: must not be null";

        var domains = new Dictionary<long, string>();
        var domainNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < doc.Domains.Count; i++)
        {
            var d = doc.Domains[i];
            var at = $"domains[{i}]";
            if (d is null) return $"{at}: must be an object";
            if (Id(d.Id) is { } e) return $"{at}.id: {e}";
            if (!Validate.IsDomainName(d.Name) || d.Name != d.Name.ToLowerInvariant()) return $"{at}.name: '{d.Name}' is not a valid lower-case domain name";
            if (d.OutgoingIp is null || (d.OutgoingIp.Length > 0 && !Validate.IsIpLiteral(d.OutgoingIp))) return $"{at}.outgoing_ip: must be an IP address or empty";
            if (!Clock.IsRfc3339(d.CreatedAt)) return $"{at}.created_at: must be an RFC 3339 UTC timestamp";
            if (!domains.TryAdd(d.Id, d.Name)) return $"{at}.id: duplicate id {d.Id}";
            if (!domainNames.Add(d.Name)) return $"{at}.name: duplicate domain '{d.Name}'";
        }

        var mailboxes = new HashSet<long>();
        var addresses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < doc.Mailboxes.Count; i++)
        {
            var m = doc.Mailboxes[i];
            var at = $"mailboxes[{i}]";
            if (m is null) return $"{at}: must be an object";
            if (Id(m.Id) is { } e) return $"{at}.id: {e}";
            if (!domains.TryGetValue(m.DomainId, out var domain)) return $"{at}.domain_id: no domain with id {m.DomainId} in the backup";
            // Lower-case like POST /mailboxes stores it: Dovecot and Postfix look addresses up folded.
            if (!Validate.IsLocalPart(m.Username) || m.Username != m.Username.ToLowerInvariant()) return $"{at}.username: '{m.Username}' is not a valid lower-case local part";
            if (!Passwords.IsStoredHash(m.PasswordHash)) return $"{at}.password_hash: must be a {Passwords.Scheme} bcrypt hash";
            if (Validate.Range("quota", m.Quota, 0, Validate.MaxBytes) is { } q) return $"{at}.quota: {q}";
            if (!Clock.IsRfc3339(m.CreatedAt)) return $"{at}.created_at: must be an RFC 3339 UTC timestamp";
            if (!mailboxes.Add(m.Id)) return $"{at}.id: duplicate id {m.Id}";
            if (!addresses.Add($"{m.Username}@{domain}")) return $"{at}.username: duplicate mailbox {m.Username}@{domain}";
        }

        var aliasIds = new HashSet<long>();
        var sources = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < doc.Aliases.Count; i++)
        {
            var a = doc.Aliases[i];
            var at = $"aliases[{i}]";
            if (a is null) return $"{at}: must be an object";
            if (Id(a.Id) is { } e) return $"{at}.id: {e}";
            if (!domains.TryGetValue(a.DomainId, out var domain)) return $"{at}.domain_id: no domain with id {a.DomainId} in the backup";
            if (!Validate.IsEmailAddress(a.Source)) return $"{at}.source: '{a.Source}' must be of the form local@domain";
            if (!a.Source[(a.Source.LastIndexOf('@') + 1)..].Equals(domain, StringComparison.OrdinalIgnoreCase))
                return $"{at}.source: '{a.Source}' is not in domain {domain} (domain_id {a.DomainId})";
            if (Validate.AddressList(a.Destination, out var bad) is null) return $"{at}.destination: {bad}";
            if (!Clock.IsRfc3339(a.CreatedAt)) return $"{at}.created_at: must be an RFC 3339 UTC timestamp";
            if (!aliasIds.Add(a.Id)) return $"{at}.id: duplicate id {a.Id}";
            if (!sources.Add(a.Source)) return $"{at}.source: duplicate alias source '{a.Source}'";
        }

        // The tiers and override rows follow the config routes' rules exactly (ConfigRules), so a
        // restore can never store a value that PUT would refuse.
        if (ConfigRules.Check(doc.GlobalConfig) is { } g) return $"global_config.{g}";
        if (!Clock.IsRfc3339(doc.GlobalConfig.UpdatedAt)) return "global_config.updated_at: must be an RFC 3339 UTC timestamp";
        if (ConfigRules.Check(doc.DomainDefaults) is { } dd) return $"domain_defaults.{dd}";
        if (!Clock.IsRfc3339(doc.DomainDefaults.UpdatedAt)) return "domain_defaults.updated_at: must be an RFC 3339 UTC timestamp";
        if (ConfigRules.Check(doc.MailboxDefaults) is { } md) return $"mailbox_defaults.{md}";
        if (!Clock.IsRfc3339(doc.MailboxDefaults.UpdatedAt)) return "mailbox_defaults.updated_at: must be an RFC 3339 UTC timestamp";

        var overridden = new HashSet<long>();
        for (var i = 0; i < doc.DomainOverrides.Count; i++)
        {
            var o = doc.DomainOverrides[i];
            var at = $"domain_overrides[{i}]";
            if (o is null) return $"{at}: must be an object";
            if (!domains.ContainsKey(o.DomainId)) return $"{at}.domain_id: no domain with id {o.DomainId} in the backup";
            if (!overridden.Add(o.DomainId)) return $"{at}.domain_id: duplicate overrides for domain {o.DomainId}";
            if (ConfigRules.Check(o) is { } oe) return $"{at}.{oe}";
        }
        overridden.Clear();
        for (var i = 0; i < doc.MailboxOverrides.Count; i++)
        {
            var o = doc.MailboxOverrides[i];
            var at = $"mailbox_overrides[{i}]";
            if (o is null) return $"{at}: must be an object";
            if (!mailboxes.Contains(o.MailboxId)) return $"{at}.mailbox_id: no mailbox with id {o.MailboxId} in the backup";
            if (!overridden.Add(o.MailboxId)) return $"{at}.mailbox_id: duplicate overrides for mailbox {o.MailboxId}";
            if (ConfigRules.Check(o) is { } oe) return $"{at}.{oe}";
        }

        var ids = new HashSet<long>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < doc.TlsCerts.Count; i++)
        {
            var c = doc.TlsCerts[i];
            var at = $"tls_certs[{i}]";
            if (c is null) return $"{at}: must be an object";
            if (Id(c.Id) is { } e) return $"{at}.id: {e}";
            if (!Validate.IsDomainName(c.Hostname)) return $"{at}.hostname: '{c.Hostname}' is not a valid host name";
            if (!IsAbsolutePath(c.CertPath)) return $"{at}.cert_path: must be an absolute path";
            if (!IsAbsolutePath(c.KeyPath)) return $"{at}.key_path: must be an absolute path";
            if (Validate.OneOf("issuer", c.Issuer, "self", "letsencrypt", "uploaded") is { } ie) return $"{at}.{ie}";
            if (c.ExpiresAt is not null && !Clock.IsRfc3339(c.ExpiresAt)) return $"{at}.expires_at: must be null or an RFC 3339 UTC timestamp";
            if (!Clock.IsRfc3339(c.CreatedAt)) return $"{at}.created_at: must be an RFC 3339 UTC timestamp";
            if (!ids.Add(c.Id)) return $"{at}.id: duplicate id {c.Id}";
            if (!keys.Add($"{c.Hostname}\n{c.Issuer}")) return $"{at}: duplicate certificate for {c.Hostname} ({c.Issuer})";
        }

        ids.Clear();
        keys.Clear();
        for (var i = 0; i < doc.DkimKeys.Count; i++)
        {
            var k = doc.DkimKeys[i];
            var at = $"dkim_keys[{i}]";
            if (k is null) return $"{at}: must be an object";
            if (Id(k.Id) is { } e) return $"{at}.id: {e}";
            if (!Validate.IsDomainName(k.Domain)) return $"{at}.domain: '{k.Domain}' is not a valid domain name";
            if (!Validate.IsSelector(k.Selector)) return $"{at}.selector: '{k.Selector}' is not a valid DKIM selector";
            if (!IsAbsolutePath(k.PrivateKeyPath)) return $"{at}.private_key_path: must be an absolute path";
            if (Text(k.DnsRecord) is { } te) return $"{at}.dns_record: {te}";
            if (!Clock.IsRfc3339(k.CreatedAt)) return $"{at}.created_at: must be an RFC 3339 UTC timestamp";
            if (!ids.Add(k.Id)) return $"{at}.id: duplicate id {k.Id}";
            if (!keys.Add($"{k.Domain}\n{k.Selector}")) return $"{at}: duplicate key {k.Selector} for {k.Domain}";
        }

        ids.Clear();
        keys.Clear();
        for (var i = 0; i < doc.AntispamWhitelist.Count; i++)
        {
            var w = doc.AntispamWhitelist[i];
            var at = $"antispam_whitelist[{i}]";
            if (w is null) return $"{at}: must be an object";
            if (Id(w.Id) is { } e) return $"{at}.id: {e}";
            if (Validate.OneOf("entry_type", w.EntryType, "ip", "cidr", "domain", "email") is { } te) return $"{at}.{te}";
            var valid = w.EntryType switch
            {
                "ip" => Validate.IsIpLiteral(w.Value),
                "cidr" => w.Value is not null && IpRules.TryParseRule(w.Value, out _),
                "domain" => Validate.IsDomainName(w.Value),
                _ => Validate.IsEmailAddress(w.Value),
            };
            if (!valid) return $"{at}.value: '{w.Value}' is not a valid {w.EntryType}";
            if (Text(w.Note) is { } ne) return $"{at}.note: {ne}";
            if (!Clock.IsRfc3339(w.CreatedAt)) return $"{at}.created_at: must be an RFC 3339 UTC timestamp";
            if (!ids.Add(w.Id)) return $"{at}.id: duplicate id {w.Id}";
            if (!keys.Add($"{w.EntryType}\n{w.Value}")) return $"{at}: duplicate entry {w.EntryType} {w.Value}";
        }
        return null;
    }

    static string? Id(long id) => id > 0 ? null : "must be a positive integer";

    static bool IsAbsolutePath(string? path) =>
        !string.IsNullOrEmpty(path) && path[0] == '/' && path.Length <= 4096 && !path.Any(char.IsControl);

    static string? Text(string? text) =>
        text is null ? "must be a string"
        : text.Length > MaxText ? $"must be at most {MaxText} characters"
        : text.Contains('\0', StringComparison.Ordinal) ? "must not contain NUL" : null;

    /// <summary>The DKIM private key files the document's dkim_keys name and this host does not have, in document order.</summary>
    public static List<string> MissingKeyFiles(BackupDocument doc) =>
        [.. doc.DkimKeys.Select(k => k.PrivateKeyPath).Concat(doc.TlsCerts.SelectMany(c => new[] { c.CertPath, c.KeyPath }))
            .Where(path => !File.Exists(path)).Distinct()];
}
