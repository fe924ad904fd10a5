using MailPanel.Core;
using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// A consistent read of every tier and override, resolved: what the mail-stack renderer needs.
/// Domains and mailboxes are ordered by id.
/// </summary>
internal sealed record EffectiveSnapshot(
    GlobalConfig Global,
    IReadOnlyList<DomainEffective> Domains,
    IReadOnlyList<MailboxEffective> Mailboxes);

/// <summary>A tier's single defaults row (CHECK id = 1) as its record type; SQL from <see cref="TierSql"/>.</summary>
internal sealed class DefaultsRow<T>(TierTable tier, RowShape<T> shape) where T : class
{
    readonly string selectSql = TierSql.SelectDefaults(tier);
    readonly string updateSql = TierSql.UpdateDefaults(tier, tier.Fields);

    public TierTable Tier { get; } = tier;
    public RowShape<T> Shape { get; } = shape;

    public T Read(Db db)
    {
        using var connection = db.Open();
        return connection.Command(selectSql).ReadOne(Map)!;
    }

    public T Read(ConfigStore.Snapshot snapshot) => snapshot.Command(selectSql).ReadOne(Map)!;

    /// <summary>The row's values in <see cref="TierTable.Fields"/> order.</summary>
    public object?[] Values(T row) => Shape.Values(row, Tier.Fields);

    /// <summary>Replaces the row with <paramref name="values"/> (in field order), stamps updated_at and returns what was stored.</summary>
    public T Save(Db.Write write, object?[] values) =>
        write.Command(updateSql, [.. TierSql.Parameters(Tier.Fields, values), ("$updated_at", Clock.Now())]).ReadOne(Map)!;

    T Map(SqliteDataReader r)
    {
        var values = TierSql.Read(r, 0, Tier.Fields);
        var updatedAt = r.GetString(Tier.Fields.Length);
        return Shape.Build(json =>
        {
            for (var i = 0; i < values.Length; i++) RowShape<T>.Write(json, Tier.Fields[i].Name, values[i]);
            RowShape<T>.Write(json, "updated_at", updatedAt);
        });
    }
}

/// <summary>A tier's per-domain or per-mailbox override rows as their record type (null = inherit).</summary>
internal sealed class OverridesRow<T>(TierTable tier, RowShape<T> shape, T none) where T : class
{
    readonly string selectSql = TierSql.SelectOverrides(tier);
    readonly string upsertSql = TierSql.UpsertOverrides(tier);
    readonly string parentExistsSql = $"SELECT COUNT(*) FROM {tier.ParentTable} WHERE id = $id";

    public TierTable Tier { get; } = tier;
    public RowShape<T> Shape { get; } = shape;

    /// <summary>The row's values in <see cref="TierTable.Overridable"/> order.</summary>
    public object?[] Values(T row) => Shape.Values(row, Tier.Overridable);

    public T Build(object?[] values) => Shape.Build(Tier.Overridable, values);

    /// <summary>The parent's overrides (all null when it has no row yet), or null when the parent does not exist.</summary>
    public T? Read(Db db, long parentId)
    {
        using var connection = db.Open();
        if (connection.Command(parentExistsSql, ("$id", parentId)).Scalar() == 0) return null;
        return connection.Command(selectSql, ("$id", parentId)).ReadOne(r => Build(TierSql.Read(r, 0, Tier.Overridable))) ?? none;
    }

    /// <summary>Replaces the parent's whole override row; false when the parent does not exist.</summary>
    public bool Save(Db.Write write, long parentId, object?[] values) =>
        write.Command(upsertSql, [("$id", parentId), .. TierSql.Parameters(Tier.Overridable, values)]).ExecuteNonQuery() == 1;
}

/// <summary>The configuration tiers (sections 5-7, 10): the three single-row tiers, the per-row overrides and the effective views.</summary>
internal static class ConfigStore
{
    public static readonly DefaultsRow<GlobalConfig> Global = new(TierFields.Global, TierRows.GlobalRow);
    public static readonly DefaultsRow<DomainDefaults> DomainDefaults = new(TierFields.Domain, TierRows.DomainDefaultsRow);
    public static readonly DefaultsRow<MailboxDefaults> MailboxDefaults = new(TierFields.Mailbox, TierRows.MailboxDefaultsRow);
    public static readonly OverridesRow<DomainOverrides> DomainOverrides = new(TierFields.Domain, TierRows.DomainOverridesRow, Core.DomainOverrides.None);
    public static readonly OverridesRow<MailboxOverrides> MailboxOverrides = new(TierFields.Mailbox, TierRows.MailboxOverridesRow, Core.MailboxOverrides.None);

    // ---- the anti-spam subset of global_config (section 10) ----

    static readonly string UpdateAntispamSql = TierSql.UpdateDefaults(TierFields.Global, TierFields.Global.AntispamFields);

    public static AntispamConfig Antispam(Db db) =>
        TierRows.AntispamRow.Build(TierFields.Global.AntispamFields, Global.Shape.Values(Global.Read(db), TierFields.Global.AntispamFields));

    /// <summary>Sets the anti-spam fields (<paramref name="values"/> in <see cref="TierTable.AntispamFields"/> order).</summary>
    public static void SaveAntispam(Db.Write write, object?[] values) =>
        write.Command(UpdateAntispamSql, [.. TierSql.Parameters(TierFields.Global.AntispamFields, values), ("$updated_at", Clock.Now())])
            .ExecuteNonQuery();

    // ---- effective views ----

    // Each row: its own columns, then the override table's key (NULL when the LEFT JOIN found no
    // row: the row inherits everything) and the overridable columns.
    static readonly string EffectiveDomainsSql =
        $"SELECT d.id, d.name, d.active, d.outgoing_ip, d.created_at, o.domain_id, {TierSql.Columns(TierFields.Domain.Overridable, "o.")}"
        + " FROM domains d LEFT JOIN domain_overrides o ON o.domain_id = d.id";

    static readonly string EffectiveMailboxesColumns =
        $"SELECT m.id, m.domain_id, m.username, m.quota, m.active, o.mailbox_id, {TierSql.Columns(TierFields.Mailbox.Overridable, "o.")}";

    const int OverridesAt = 6;
    static readonly int PasswordHashAt = OverridesAt + TierFields.Mailbox.Overridable.Length;

    static readonly string EffectiveMailboxesSql = EffectiveMailboxesColumns + " FROM mailboxes m LEFT JOIN mailbox_overrides o ON o.mailbox_id = m.id";

    /// <summary>The same rows plus the stored password hash, by domain name then username (CROSS JOIN keeps domains the outer loop).</summary>
    static readonly string EffectiveMailboxesByAddressSql = EffectiveMailboxesColumns + ", m.password_hash"
        + " FROM domains dn CROSS JOIN mailboxes m ON m.domain_id = dn.id LEFT JOIN mailbox_overrides o ON o.mailbox_id = m.id"
        + " ORDER BY dn.name, m.username";

    static readonly string EffectiveDomainByIdSql = EffectiveDomainsSql + " WHERE d.id = $id";
    static readonly string EffectiveDomainsAllSql = EffectiveDomainsSql + " ORDER BY d.id";
    static readonly string EffectiveMailboxByIdSql = EffectiveMailboxesSql + " WHERE m.id = $id";
    static readonly string EffectiveMailboxesAllSql = EffectiveMailboxesSql + " ORDER BY m.id";

    // Mailboxes that forward: an override names targets, or the defaults do (then every row is a candidate).
    static readonly string ForwardingMailboxesSql = EffectiveMailboxesSql
        + " WHERE (o.forward_to IS NOT NULL AND o.forward_to <> '') OR (SELECT forward_to FROM mailbox_defaults) <> '' ORDER BY m.id";

    // Mailboxes on vacation: the override says so, or it inherits and the defaults say so.
    static readonly string VacationMailboxesSql = EffectiveMailboxesSql
        + " WHERE o.vacation_enabled = 1 OR (o.vacation_enabled IS NULL AND (SELECT vacation_enabled FROM mailbox_defaults) = 1) ORDER BY m.id";

    static object?[]? ReadOverrides(SqliteDataReader r, TierTable tier) =>
        r.IsDBNull(OverridesAt - 1) ? null : TierSql.Read(r, OverridesAt, tier.Overridable);

    static (Domain, object?[]?) MapDomainRow(SqliteDataReader r) =>
        (new Domain(r.GetInt64(0), r.GetString(1), r.Bool(2), r.GetString(3), r.GetString(4)), ReadOverrides(r, TierFields.Domain));

    static (MailboxBase, object?[]?) MapMailboxRow(SqliteDataReader r) =>
        (new MailboxBase(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.Bool(4)), ReadOverrides(r, TierFields.Mailbox));

    /// <summary>One read transaction, so the tiers and rows resolved together are from the same moment.</summary>
    internal sealed class Snapshot : IDisposable
    {
        readonly SqliteConnection connection;
        readonly SqliteTransaction transaction;

        public Snapshot(Db db)
        {
            connection = db.Open();
            transaction = connection.BeginTransaction(deferred: true);
            Global = ConfigStore.Global.Read(this);
            Effective = new Effective(Global, DomainDefaults.Read(this), MailboxDefaults.Read(this));
        }

        public GlobalConfig Global { get; }

        /// <summary>The merge, on this snapshot's tier rows.</summary>
        public Effective Effective { get; }

        public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
        {
            var command = connection.Command(sql, parameters);
            command.Transaction = transaction;
            return command;
        }

        public DomainEffective Resolve((Domain Domain, object?[]? Overrides) row) => Effective.Domain(row.Domain, row.Overrides);

        public void Dispose()
        {
            transaction.Dispose(); // read-only: rollback is the same as commit
            connection.Dispose();
        }
    }

    public static DomainEffective? EffectiveDomain(Db db, long domainId)
    {
        using var snapshot = new Snapshot(db);
        var row = snapshot.Command(EffectiveDomainByIdSql, ("$id", domainId)).ReadAll(MapDomainRow);
        return row.Count == 0 ? null : snapshot.Resolve(row[0]);
    }

    public static MailboxEffective? EffectiveMailbox(Db db, long mailboxId)
    {
        using var snapshot = new Snapshot(db);
        var rows = snapshot.Command(EffectiveMailboxByIdSql, ("$id", mailboxId)).ReadAll(MapMailboxRow);
        if (rows.Count == 0) return null;
        var (mailbox, overrides) = rows[0];
        var domain = snapshot.Command(EffectiveDomainByIdSql, ("$id", mailbox.DomainId)).ReadAll(MapDomainRow);
        return snapshot.Effective.Mailbox(mailbox, overrides, snapshot.Resolve(domain[0]));
    }

    /// <summary>
    /// Every domain and mailbox resolved in one pass (two table scans, one read transaction): the
    /// renderer's input, sized for 100,000 mailboxes. Each domain is resolved once and shared by its mailboxes.
    /// </summary>
    public static EffectiveSnapshot ResolveAll(Db db)
    {
        using var snapshot = new Snapshot(db);
        return ResolveAll(snapshot);
    }

    /// <summary>The same, inside a caller's snapshot.</summary>
    public static EffectiveSnapshot ResolveAll(Snapshot snapshot)
    {
        var domains = ResolveDomains(snapshot);
        var byId = domains.ToDictionary(d => d.DomainId);
        var mailboxes = new List<MailboxEffective>();
        using (var reader = snapshot.Command(EffectiveMailboxesAllSql).ExecuteReader())
        {
            while (reader.Read())
            {
                var (mailbox, overrides) = MapMailboxRow(reader);
                mailboxes.Add(snapshot.Effective.Mailbox(mailbox, overrides, byId[mailbox.DomainId]));
            }
        }
        return new EffectiveSnapshot(snapshot.Global, domains, mailboxes);
    }

    /// <summary>Every domain resolved, by id.</summary>
    public static List<DomainEffective> ResolveDomains(Snapshot snapshot) =>
        snapshot.Command(EffectiveDomainsAllSql).ReadAll(MapDomainRow).ConvertAll(snapshot.Resolve);

    /// <summary>
    /// Every mailbox resolved with its stored password hash, ordered by domain name then username,
    /// streamed from the reader one row at a time: the mail stack renders 100,000 mailboxes without
    /// holding them. The order comes from the two unique indexes (domains.name, then
    /// mailboxes(domain_id, username)), so SQLite does not sort either.
    /// </summary>
    /// <summary>The mailboxes whose effective forward_to is not empty (a handful: read whole, beside the streamed ones).</summary>
    public static List<MailboxEffective> ForwardingMailboxes(Snapshot snapshot, IReadOnlyDictionary<long, DomainEffective> domains) =>
        MailboxesWhere(snapshot, domains, ForwardingMailboxesSql, m => m.ForwardTo.Length > 0);

    /// <summary>The mailboxes whose effective vacation_enabled is true (few: read whole).</summary>
    public static List<MailboxEffective> VacationMailboxes(Snapshot snapshot, IReadOnlyDictionary<long, DomainEffective> domains) =>
        MailboxesWhere(snapshot, domains, VacationMailboxesSql, m => m.VacationEnabled);

    static List<MailboxEffective> MailboxesWhere(Snapshot snapshot, IReadOnlyDictionary<long, DomainEffective> domains, string sql, Func<MailboxEffective, bool> keep)
    {
        var list = new List<MailboxEffective>();
        using var reader = snapshot.Command(sql).ExecuteReader();
        while (reader.Read())
        {
            var (mailbox, overrides) = MapMailboxRow(reader);
            var effective = snapshot.Effective.Mailbox(mailbox, overrides, domains[mailbox.DomainId]);
            if (keep(effective)) list.Add(effective);
        }
        return list;
    }

    // Every stored forward (effective: the override's forward_to, else the defaults') and every alias,
    // active or not (a loop must not wait for a mailbox to be switched on).
    const string ForwardEdgesSql = """
        SELECT lower(m.username || '@' || d.name), COALESCE(o.forward_to, md.forward_to)
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id CROSS JOIN mailbox_defaults md
        LEFT JOIN mailbox_overrides o ON o.mailbox_id = m.id
        WHERE COALESCE(o.forward_to, md.forward_to) <> ''
        UNION ALL SELECT lower(source), destination FROM aliases
        """;

    /// <summary>Where mail to an address is sent on (forward_to and aliases), inside a write so a change is checked with what it changes.</summary>
    public static List<(string From, string Targets)> ForwardEdges(Db.Write write) =>
        write.Command(ForwardEdgesSql).ReadAll(r => (r.GetString(0), r.GetString(1)));

    public static IEnumerable<T> StreamMailboxesByAddress<T>(Snapshot snapshot, IReadOnlyDictionary<long, DomainEffective> domains, Func<MailboxEffective, string, T> project)
    {
        using var reader = snapshot.Command(EffectiveMailboxesByAddressSql).ExecuteReader();
        while (reader.Read())
        {
            var (mailbox, overrides) = MapMailboxRow(reader);
            yield return project(snapshot.Effective.Mailbox(mailbox, overrides, domains[mailbox.DomainId]), reader.GetString(PasswordHashAt));
        }
    }
}
