using System.Text.Json.Serialization.Metadata;
using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>
/// Sections 5-7 of the reference: the three single-row tiers (PUT replaces a row in full), the
/// per-domain and per-mailbox override rows (PUT replaces the row; omitted or null = inherit) and
/// the read-only effective views, resolved by <see cref="Effective"/>.
/// </summary>
internal static class ConfigApi
{
    public static void MapConfigTiers(this IEndpointRouteBuilder app)
    {
        var config = app.MapGroup("/api/v1/config");
        config.MapGet("/global", (Db db) => TypedResults.Ok(ConfigStore.Global.Read(db)));
        config.MapPut("/global", (HttpRequest request, Db db, Reconciler reconciler) =>
            ReplaceDefaults(request, AppJson.Api.GlobalConfig, ConfigStore.Global, "global config replaced", db, reconciler));
        config.MapGet("/domain-defaults", (Db db) => TypedResults.Ok(ConfigStore.DomainDefaults.Read(db)));
        config.MapPut("/domain-defaults", (HttpRequest request, Db db, Reconciler reconciler) =>
            ReplaceDefaults(request, AppJson.Api.DomainDefaults, ConfigStore.DomainDefaults, "domain defaults replaced", db, reconciler));
        config.MapGet("/mailbox-defaults", (Db db) => TypedResults.Ok(ConfigStore.MailboxDefaults.Read(db)));
        config.MapPut("/mailbox-defaults", (HttpRequest request, Db db, Reconciler reconciler) =>
            ReplaceDefaults(request, AppJson.Api.MailboxDefaults, ConfigStore.MailboxDefaults, "mailbox defaults replaced", db, reconciler));

        // The rest of /domains/:id and /mailboxes/:id is mapped by DomainsApi and MailboxesApi.
        var domain = app.MapGroup("/api/v1/domains/{id}");
        domain.MapGet("/overrides", (string id, Db db) => GetOverrides(id, ConfigStore.DomainOverrides, "domain not found", db));
        domain.MapPut("/overrides", (string id, HttpRequest request, Db db, Reconciler reconciler) =>
            ReplaceOverrides(id, request, AppJson.Api.DomainOverrides, ConfigStore.DomainOverrides, "domain", db, reconciler));
        domain.MapGet("/effective", GetDomainEffective);
        var mailbox = app.MapGroup("/api/v1/mailboxes/{id}");
        mailbox.MapGet("/overrides", (string id, Db db) => GetOverrides(id, ConfigStore.MailboxOverrides, "mailbox not found", db));
        mailbox.MapPut("/overrides", (string id, HttpRequest request, Db db, Reconciler reconciler) =>
            ReplaceOverrides(id, request, AppJson.Api.MailboxOverrides, ConfigStore.MailboxOverrides, "mailbox", db, reconciler));
        mailbox.MapGet("/effective", GetMailboxEffective);
    }

    /// <summary>PUT of a defaults row: the whole row is checked, put in its canonical spelling and replaced.</summary>
    static async Task<Results<Ok<T>, JsonHttpResult<ApiError>>> ReplaceDefaults<T>(
        HttpRequest request, JsonTypeInfo<T> type, DefaultsRow<T> tier, string reason, Db db, Reconciler reconciler) where T : class
    {
        var body = await Body.Read(request, type);
        if (!body.Ok) return body.Error!;
        var values = tier.Values(body.Value!);
        if (ConfigRules.Check(tier.Tier.Fields, values, overrides: false) is { } error) return Errors.Validation(error);
        T saved;
        using (var write = await db.BeginWrite())
        {
            saved = tier.Save(write, ConfigRules.Normalize(tier.Tier.Fields, values));
            if (LoopRefused(tier.Tier, write) is { } loop) return loop;
            write.Commit();
        }
        reconciler.Request(reason);
        return TypedResults.Ok(saved);
    }

    /// <summary>A mailbox tier's forward_to that closes a forwarding loop: 400, and the write is rolled back.</summary>
    static JsonHttpResult<ApiError>? LoopRefused(TierTable tier, Db.Write write) =>
        tier == TierFields.Mailbox && ForwardLoops.Find(write) is { } loop
            ? Errors.Validation("forward_to would make a forwarding loop", loop)
            : null;

    static Results<Ok<T>, JsonHttpResult<ApiError>> GetOverrides<T>(string id, OverridesRow<T> tier, string notFound, Db db) where T : class
    {
        if (!Ids.TryParse(id, out var parentId)) return Errors.InvalidId();
        return tier.Read(db, parentId) is { } o ? TypedResults.Ok(o) : Errors.NotFound(notFound);
    }

    /// <summary>PUT of an override row: omitted or null fields inherit; the row is replaced whole and answered as stored.</summary>
    static async Task<Results<Ok<T>, JsonHttpResult<ApiError>>> ReplaceOverrides<T>(
        string id, HttpRequest request, JsonTypeInfo<T> type, OverridesRow<T> tier, string parent, Db db, Reconciler reconciler) where T : class
    {
        if (!Ids.TryParse(id, out var parentId)) return Errors.InvalidId();
        var body = await Body.Read(request, type);
        if (!body.Ok) return body.Error!;
        var values = tier.Values(body.Value!);
        if (ConfigRules.Check(tier.Tier.Overridable, values, overrides: true) is { } error) return Errors.Validation(error);
        values = ConfigRules.Normalize(tier.Tier.Overridable, values);
        using (var write = await db.BeginWrite())
        {
            if (!tier.Save(write, parentId, values)) return Errors.NotFound($"{parent} not found");
            if (LoopRefused(tier.Tier, write) is { } loop) return loop;
            write.Commit();
        }
        reconciler.Request($"{parent} overrides replaced");
        return TypedResults.Ok(tier.Build(values));
    }

    static Results<Ok<DomainEffective>, JsonHttpResult<ApiError>> GetDomainEffective(string id, Db db)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        return ConfigStore.EffectiveDomain(db, domainId) is { } e ? TypedResults.Ok(e) : Errors.NotFound("domain not found");
    }

    static Results<Ok<MailboxEffective>, JsonHttpResult<ApiError>> GetMailboxEffective(string id, Db db)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        return ConfigStore.EffectiveMailbox(db, mailboxId) is { } e ? TypedResults.Ok(e) : Errors.NotFound("mailbox not found");
    }
}
