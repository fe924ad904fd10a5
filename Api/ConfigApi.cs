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
        config.MapGet("/global", GetGlobal);
        config.MapPut("/global", PutGlobal);
        config.MapGet("/domain-defaults", GetDomainDefaults);
        config.MapPut("/domain-defaults", PutDomainDefaults);
        config.MapGet("/mailbox-defaults", GetMailboxDefaults);
        config.MapPut("/mailbox-defaults", PutMailboxDefaults);

        // The rest of /domains/:id and /mailboxes/:id is mapped by DomainsApi and MailboxesApi.
        var domain = app.MapGroup("/api/v1/domains/{id}");
        domain.MapGet("/overrides", GetDomainOverrides);
        domain.MapPut("/overrides", PutDomainOverrides);
        domain.MapGet("/effective", GetDomainEffective);
        var mailbox = app.MapGroup("/api/v1/mailboxes/{id}");
        mailbox.MapGet("/overrides", GetMailboxOverrides);
        mailbox.MapPut("/overrides", PutMailboxOverrides);
        mailbox.MapGet("/effective", GetMailboxEffective);
    }

    // ---- the three tiers ----

    static Ok<GlobalConfig> GetGlobal(Db db) => TypedResults.Ok(ConfigStore.Global(db));

    static async Task<Results<Ok<GlobalConfig>, JsonHttpResult<ApiError>>> PutGlobal(HttpRequest request, Db db, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.GlobalConfig);
        if (!body.Ok) return body.Error!;
        if (ConfigRules.Check(body.Value!) is { } error) return Errors.Validation(error);
        var input = ConfigRules.Normalize(body.Value!);
        GlobalConfig saved;
        using (var write = await db.BeginWrite())
        {
            saved = ConfigStore.SaveGlobal(write, input);
            write.Commit();
        }
        reconciler.Request("global config replaced");
        return TypedResults.Ok(saved);
    }

    static Ok<DomainDefaults> GetDomainDefaults(Db db) => TypedResults.Ok(ConfigStore.DomainDefaults(db));

    static async Task<Results<Ok<DomainDefaults>, JsonHttpResult<ApiError>>> PutDomainDefaults(HttpRequest request, Db db, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.DomainDefaults);
        if (!body.Ok) return body.Error!;
        if (ConfigRules.Check(body.Value!) is { } error) return Errors.Validation(error);
        DomainDefaults saved;
        using (var write = await db.BeginWrite())
        {
            saved = ConfigStore.SaveDomainDefaults(write, body.Value!);
            write.Commit();
        }
        reconciler.Request("domain defaults replaced");
        return TypedResults.Ok(saved);
    }

    static Ok<MailboxDefaults> GetMailboxDefaults(Db db) => TypedResults.Ok(ConfigStore.MailboxDefaults(db));

    static async Task<Results<Ok<MailboxDefaults>, JsonHttpResult<ApiError>>> PutMailboxDefaults(HttpRequest request, Db db, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.MailboxDefaults);
        if (!body.Ok) return body.Error!;
        if (ConfigRules.Check(body.Value!) is { } error) return Errors.Validation(error);
        var input = body.Value! with { ForwardTo = ConfigRules.NormalizeForward(body.Value!.ForwardTo)! };
        MailboxDefaults saved;
        using (var write = await db.BeginWrite())
        {
            saved = ConfigStore.SaveMailboxDefaults(write, input);
            write.Commit();
        }
        reconciler.Request("mailbox defaults replaced");
        return TypedResults.Ok(saved);
    }

    // ---- per-domain ----

    static Results<Ok<DomainOverrides>, JsonHttpResult<ApiError>> GetDomainOverrides(string id, Db db)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        return ConfigStore.DomainOverrides(db, domainId) is { } o ? TypedResults.Ok(o) : Errors.NotFound("domain not found");
    }

    static async Task<Results<Ok<DomainOverrides>, JsonHttpResult<ApiError>>> PutDomainOverrides(string id, HttpRequest request, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.DomainOverrides);
        if (!body.Ok) return body.Error!;
        if (ConfigRules.Check(body.Value!) is { } error) return Errors.Validation(error);
        using (var write = await db.BeginWrite())
        {
            if (!ConfigStore.SaveDomainOverrides(write, domainId, body.Value!)) return Errors.NotFound("domain not found");
            write.Commit();
        }
        reconciler.Request("domain overrides replaced");
        return TypedResults.Ok(body.Value!);
    }

    static Results<Ok<DomainEffective>, JsonHttpResult<ApiError>> GetDomainEffective(string id, Db db)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        return ConfigStore.EffectiveDomain(db, domainId) is { } e ? TypedResults.Ok(e) : Errors.NotFound("domain not found");
    }

    // ---- per-mailbox ----

    static Results<Ok<MailboxOverrides>, JsonHttpResult<ApiError>> GetMailboxOverrides(string id, Db db)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        return ConfigStore.MailboxOverrides(db, mailboxId) is { } o ? TypedResults.Ok(o) : Errors.NotFound("mailbox not found");
    }

    static async Task<Results<Ok<MailboxOverrides>, JsonHttpResult<ApiError>>> PutMailboxOverrides(string id, HttpRequest request, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.MailboxOverrides);
        if (!body.Ok) return body.Error!;
        if (ConfigRules.Check(body.Value!) is { } error) return Errors.Validation(error);
        var input = body.Value! with { ForwardTo = ConfigRules.NormalizeForward(body.Value!.ForwardTo) };
        using (var write = await db.BeginWrite())
        {
            if (!ConfigStore.SaveMailboxOverrides(write, mailboxId, input)) return Errors.NotFound("mailbox not found");
            write.Commit();
        }
        reconciler.Request("mailbox overrides replaced");
        return TypedResults.Ok(input);
    }

    static Results<Ok<MailboxEffective>, JsonHttpResult<ApiError>> GetMailboxEffective(string id, Db db)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        return ConfigStore.EffectiveMailbox(db, mailboxId) is { } e ? TypedResults.Ok(e) : Errors.NotFound("mailbox not found");
    }
}
