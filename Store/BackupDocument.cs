using System.Text.Json.Serialization;
using MailPanel.Core;

namespace MailPanel.Store;

// The backup document (section 14), parsed whole and strictly: every field required (null where the
// column is nullable), unknown fields rejected. Field order of each Values() = its BackupStore table.
// The three tiers are the config routes' own records (GET shape = PUT body), so a restore is checked
// by the same ConfigRules; their updated_at, optional on PUT, is required here by BackupCheck. An
// override row is the route's override record plus the row id, flat as in the table; as on PUT, an
// override field left out is null (inherit).

internal sealed record BackupDocument
{
    public required long SchemaVersion { get; init; }
    public required string CreatedAt { get; init; }
    public required List<BackupDomain> Domains { get; init; }
    public required List<BackupMailbox> Mailboxes { get; init; }
    public required List<BackupAlias> Aliases { get; init; }
    public required GlobalConfig GlobalConfig { get; init; }
    public required DomainDefaults DomainDefaults { get; init; }
    public required MailboxDefaults MailboxDefaults { get; init; }
    public required List<BackupDomainOverride> DomainOverrides { get; init; }
    public required List<BackupMailboxOverride> MailboxOverrides { get; init; }
    public required List<BackupTlsCert> TlsCerts { get; init; }
    public required List<BackupDkimKey> DkimKeys { get; init; }
    public required List<BackupWhitelistEntry> AntispamWhitelist { get; init; }
}

internal sealed record BackupDomain : IBackupRow
{
    public required long Id { get; init; }
    public required string Name { get; init; }
    public required bool Active { get; init; }
    public required string OutgoingIp { get; init; }
    public required string CreatedAt { get; init; }

    public object?[] Values() => [Id, Name, Active, OutgoingIp, CreatedAt];
}

internal sealed record BackupMailbox : IBackupRow
{
    public required long Id { get; init; }
    public required long DomainId { get; init; }
    public required string Username { get; init; }
    public required string PasswordHash { get; init; }
    public required long Quota { get; init; }
    public required bool Active { get; init; }
    public required string CreatedAt { get; init; }

    public object?[] Values() => [Id, DomainId, Username, PasswordHash, Quota, Active, CreatedAt];
}

internal sealed record BackupAlias : IBackupRow
{
    public required long Id { get; init; }
    public required long DomainId { get; init; }
    public required string Source { get; init; }
    public required string Destination { get; init; }
    public required string CreatedAt { get; init; }

    public object?[] Values() => [Id, DomainId, Source, Destination, CreatedAt];
}

/// <summary>A domain_overrides row: the domain's id, then the override fields (Core/TierFields.cs).</summary>
internal sealed record BackupDomainOverride : DomainOverrides, IBackupRow
{
    [JsonPropertyOrder(-1)]
    public required long DomainId { get; init; }

    public object?[] Values() => [DomainId, .. ConfigStore.DomainOverrides.Values(this)];
}

/// <summary>A mailbox_overrides row: the mailbox's id, then the override fields (Core/TierFields.cs).</summary>
internal sealed record BackupMailboxOverride : MailboxOverrides, IBackupRow
{
    [JsonPropertyOrder(-1)]
    public required long MailboxId { get; init; }

    public object?[] Values() => [MailboxId, .. ConfigStore.MailboxOverrides.Values(this)];
}

internal sealed record BackupTlsCert : IBackupRow
{
    public required long Id { get; init; }
    public required string Hostname { get; init; }
    public required string CertPath { get; init; }
    public required string KeyPath { get; init; }
    public required string Issuer { get; init; }
    public required string? ExpiresAt { get; init; }
    public required string CreatedAt { get; init; }

    public object?[] Values() => [Id, Hostname, CertPath, KeyPath, Issuer, ExpiresAt, CreatedAt];
}

internal sealed record BackupDkimKey : IBackupRow
{
    public required long Id { get; init; }
    public required string Domain { get; init; }
    public required string Selector { get; init; }
    public required string PrivateKeyPath { get; init; }
    public required string DnsRecord { get; init; }
    public required string CreatedAt { get; init; }

    public object?[] Values() => [Id, Domain, Selector, PrivateKeyPath, DnsRecord, CreatedAt];
}

internal sealed record BackupWhitelistEntry : IBackupRow
{
    public required long Id { get; init; }
    public required string EntryType { get; init; }
    public required string Value { get; init; }
    public required string Note { get; init; }
    public required string CreatedAt { get; init; }

    public object?[] Values() => [Id, EntryType, Value, Note, CreatedAt];
}
