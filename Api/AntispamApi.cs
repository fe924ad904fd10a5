using System.Net;
using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record WhitelistCreate(string? EntryType, string? Value, string? Note);

/// <summary>Section 10 of the reference: the DNSBL + greylist subset of global_config and the whitelist CRUD.</summary>
internal static class AntispamApi
{
    public static void MapAntispam(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/config/antispam", GetConfig);
        app.MapPut("/api/v1/config/antispam", PutConfig);
        var whitelist = app.MapGroup("/api/v1/antispam/whitelist");
        whitelist.MapGet("/", List);
        whitelist.MapPost("/", Create);
        whitelist.MapDelete("/{id}", Delete);
    }

    static Ok<AntispamConfig> GetConfig(Db db) => TypedResults.Ok(ConfigStore.Antispam(db));

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> PutConfig(HttpRequest request, Db db, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.AntispamConfig);
        if (!body.Ok) return body.Error!;
        var fields = TierFields.Global.AntispamFields;
        var values = TierRows.AntispamRow.Values(body.Value!, fields);
        if (ConfigRules.Check(fields, values, overrides: false) is { } error) return Errors.Validation(error);
        using (var write = await db.BeginWrite())
        {
            ConfigStore.SaveAntispam(write, ConfigRules.Normalize(fields, values));
            write.Commit();
        }
        reconciler.Request("anti-spam config saved");
        return Ack.Ok("anti-spam config saved; reconciling…");
    }

    static Results<Ok<ListPage<WhitelistEntry>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (rows, total) = WhitelistStore.List(db, page);
        return TypedResults.Ok(ListPage<WhitelistEntry>.Of(rows, page, total));
    }

    static async Task<Results<Ok<WhitelistEntry>, JsonHttpResult<ApiError>>> Create(HttpRequest request, WhitelistRules rules)
    {
        var body = await Body.Read(request, AppJson.Api.WhitelistCreate);
        if (!body.Ok) return body.Error!;
        var done = await rules.Create(body.Value!.EntryType, body.Value.Value, body.Value.Note);
        return done.Ok ? TypedResults.Ok(done.Value) : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, WhitelistRules rules)
    {
        if (!Ids.TryParse(id, out var entryId)) return Errors.InvalidId();
        var done = await rules.Delete(entryId);
        return done.Ok ? Ack.Ok("whitelist entry deleted") : Errors.From(done);
    }
}
