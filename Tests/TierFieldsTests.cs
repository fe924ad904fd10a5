using System.Text.Json.Serialization.Metadata;
using Microsoft.Data.Sqlite;
using Xunit;

namespace MailPanel.Tests;

/// <summary>
/// Core/TierFields.cs is the one description of the tiers: the records, the JSON contracts, the
/// database columns and the effective views must all agree with it, field by field and in order.
/// </summary>
public sealed class TierFieldsTests
{
    static string[] Names(JsonTypeInfo type) => [.. type.Properties.Select(p => p.Name)];

    static string[] Names(IEnumerable<TierField> fields) => [.. fields.Select(f => f.Name)];

    static void AssertKinds(JsonTypeInfo type, IEnumerable<TierField> fields, bool nullable)
    {
        foreach (var f in fields)
        {
            var property = type.Properties.Single(p => p.Name == f.Name);
            var expected = f.Kind switch
            {
                ColumnKind.Int => nullable || f.Inherits ? typeof(long?) : typeof(long),
                ColumnKind.Bool => nullable || f.Inherits ? typeof(bool?) : typeof(bool),
                ColumnKind.Real => nullable || f.Inherits ? typeof(double?) : typeof(double),
                _ => typeof(string),
            };
            Assert.True(expected == property.PropertyType, $"{type.Type.Name}.{f.Name}: {property.PropertyType.Name}, table says {expected.Name}");
        }
    }

    public static TheoryData<string> Contexts => new() { "AppJson", "TierJson" };

    static JsonTypeInfo Info(string context, Type type) =>
        context == "AppJson" ? AppJson.Api.GetTypeInfo(type)! : TierJson.Default.GetTypeInfo(type)!;

    [Theory]
    [MemberData(nameof(Contexts))]
    public void RecordsListTheTableFieldsInOrder(string context)
    {
        Assert.Equal([.. Names(TierFields.Global.Fields), "updated_at"], Names(Info(context, typeof(GlobalConfig))));
        Assert.Equal([.. Names(TierFields.Domain.Fields), "updated_at"], Names(Info(context, typeof(DomainDefaults))));
        Assert.Equal([.. Names(TierFields.Mailbox.Fields), "updated_at"], Names(Info(context, typeof(MailboxDefaults))));
        Assert.Equal(Names(TierFields.Domain.Overridable), Names(Info(context, typeof(DomainOverrides))));
        Assert.Equal(Names(TierFields.Mailbox.Overridable), Names(Info(context, typeof(MailboxOverrides))));
        Assert.Equal(Names(TierFields.Global.AntispamFields), Names(Info(context, typeof(AntispamConfig))));
        Assert.Equal(["domain_id", "domain_name", "outgoing_ip", .. Names(TierFields.Domain.Fields), "active"],
            Names(Info(context, typeof(DomainEffective))));
        Assert.Equal(["mailbox_id", "mailbox_username", "domain_id", "domain_name", .. Names(TierFields.Mailbox.Fields),
                      .. TierFields.MailboxEffectiveDomainFields, "mailbox_active", "domain_active"],
            Names(Info(context, typeof(MailboxEffective))));
    }

    [Fact]
    public void RecordPropertyTypesMatchTheColumnKinds()
    {
        AssertKinds(AppJson.Api.GlobalConfig, TierFields.Global.Fields, nullable: false);
        AssertKinds(AppJson.Api.DomainDefaults, TierFields.Domain.Fields, nullable: false);
        AssertKinds(AppJson.Api.MailboxDefaults, TierFields.Mailbox.Fields, nullable: false);
        AssertKinds(AppJson.Api.DomainOverrides, TierFields.Domain.Overridable, nullable: true);
        AssertKinds(AppJson.Api.MailboxOverrides, TierFields.Mailbox.Overridable, nullable: true);
        Assert.All(TierFields.MailboxEffectiveDomainFields, name => Assert.Contains(TierFields.Domain.Fields, f => f.Name == name));
        // Store/Effective.cs lets the mailbox row's own quota stand for the one field that has no override column.
        Assert.Equal(["quota_bytes"], Names(TierFields.Mailbox.Fields.Where(f => !f.Overridable)));
        Assert.DoesNotContain(TierFields.Domain.Fields, f => !f.Overridable);
    }

    [Fact]
    public void BackupRowsAreTheOverrideRecordsWithTheirKey()
    {
        Assert.Equal(["domain_id", .. Names(TierFields.Domain.Overridable)], Names(AppJson.Api.GetTypeInfo(typeof(BackupDomainOverride))!));
        Assert.Equal(["mailbox_id", .. Names(TierFields.Mailbox.Overridable)], Names(AppJson.Api.GetTypeInfo(typeof(BackupMailboxOverride))!));
        Assert.Equal([.. Names(TierFields.Mailbox.Fields), "updated_at"], BackupStore.MailboxDefaults.Columns.Select(c => c.Name));
        Assert.Equal(["mailbox_id", .. Names(TierFields.Mailbox.Overridable)], BackupStore.MailboxOverrides.Columns.Select(c => c.Name));
    }

    static (string Name, string Type, bool NotNull)[] Columns(SqliteConnection connection, string table) =>
        [.. connection.Command("SELECT name, type, \"notnull\" FROM pragma_table_info($t) ORDER BY cid", ("$t", table))
            .ReadAll(r => (r.GetString(0), r.GetString(1), r.GetInt64(2) == 1))];

    static string SqlType(ColumnKind kind) => kind switch { ColumnKind.Real => "REAL", ColumnKind.Text => "TEXT", _ => "INTEGER" };

    [Fact]
    public void FreshDatabaseHasOneColumnPerField()
    {
        using var dir = new TempDir();
        using var db = new Db(Path.Combine(dir.Path, "t.db"));
        Schema.Migrate(db);
        using var connection = db.Open();
        foreach (var tier in TierFields.All)
        {
            Assert.Equal([("id", "INTEGER", false), .. tier.Fields.Select(f => (f.Name, SqlType(f.Kind), !f.Inherits)), ("updated_at", "TEXT", true)],
                Columns(connection, tier.Table));
            if (tier.OverrideTable is null) continue;
            Assert.Equal([(tier.OverrideKey!, "INTEGER", false), .. tier.Overridable.Select(f => (f.Name, SqlType(f.Kind), false))],
                Columns(connection, tier.OverrideTable));
        }
    }

    [Fact]
    public void StartUpAddsAFieldTheDatabaseLacks()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "t.db");
        using (var db = new Db(path))
        {
            Schema.Migrate(db);
            using var connection = db.Open();
            // As if the database predates these two fields.
            connection.Command("ALTER TABLE mailbox_defaults DROP COLUMN auto_junk_threshold").ExecuteNonQuery();
            connection.Command("ALTER TABLE mailbox_overrides DROP COLUMN vacation_message").ExecuteNonQuery();
            connection.Command("ALTER TABLE global_config DROP COLUMN dnsbl_zones").ExecuteNonQuery();
        }
        using (var db = new Db(path))
        {
            Schema.Migrate(db);
            var defaults = ConfigStore.MailboxDefaults.Read(db);
            Assert.Equal(7.0, defaults.AutoJunkThreshold); // the seed
            Assert.Equal("", ConfigStore.Global.Read(db).DnsblZones);
            using var connection = db.Open();
            Assert.Contains(Columns(connection, "mailbox_overrides"), c => c is ("vacation_message", "TEXT", false));
        }
    }

    [Fact]
    public void ARowWithoutOverridesResolvesAsOneWithAnAllNullOverrideRow()
    {
        using var dir = new TempDir();
        using var db = new Db(Path.Combine(dir.Path, "t.db"));
        Schema.Migrate(db);
        var effective = new Effective(ConfigStore.Global.Read(db), ConfigStore.DomainDefaults.Read(db), ConfigStore.MailboxDefaults.Read(db));
        var domainA = new Domain(1, "a.example", true, "", "2026-01-01T00:00:00Z");
        var domainB = new Domain(2, "b.example", false, "192.0.2.7", "2026-01-01T00:00:00Z");
        foreach (var domain in new[] { domainA, domainB, domainA })
        {
            var viaTemplate = effective.Domain(domain, null);
            Assert.Equal(effective.Domain(domain, new object?[TierFields.Domain.Overridable.Length]), viaTemplate);
            foreach (var mailbox in new[] { new MailboxBase(5, domain.Id, "x", 0, true), new MailboxBase(6, domain.Id, "y", 123456, false) })
                Assert.Equal(effective.Mailbox(mailbox, new object?[TierFields.Mailbox.Overridable.Length], viaTemplate),
                    effective.Mailbox(mailbox, null, viaTemplate));
        }
        var some = new object?[TierFields.Domain.Overridable.Length];
        some[Array.FindIndex(TierFields.Domain.Overridable, f => f.Name == "spam_action")] = "reject";
        Assert.Equal("reject", effective.Domain(domainA, some).SpamAction);
        Assert.Equal("tag", effective.Domain(domainA, null).SpamAction);
    }

    sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("mailpanel-tiers-").FullName;

        public void Dispose()
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(Path, recursive: true);
        }
    }
}
