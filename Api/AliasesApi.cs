using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record AliasCreate(string? Source, string? Destination);

/// <summary>Section 4 of the reference, plus GET of one alias and ?domain_id= on the list (API.md).</summary>
internal static class AliasesApi
{
    public static void MapAliases(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/aliases");
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapPost("/", Create);
        group.MapDelete("/{id}", Delete);
    }

    static Results<Ok<ListPage<Alias>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        if (!Ids.TryParseQuery(request, "domain_id", out var domainId, out error)) return error!;
        var (rows, total) = AliasStore.List(db, page, domainId);
        return TypedResults.Ok(ListPage<Alias>.Of(rows, page, total));
    }

    static Results<Ok<Alias>, JsonHttpResult<ApiError>> Get(string id, Db db)
    {
        if (!Ids.TryParse(id, out var aliasId)) return Errors.InvalidId();
        return AliasStore.Get(db, aliasId) is { } alias ? TypedResults.Ok(alias) : Errors.NotFound("alias not found");
    }

    static async Task<Results<Created<Alias>, JsonHttpResult<ApiError>>> Create(HttpRequest request, AliasRules rules)
    {
        var body = await Body.Read(request, AppJson.Api.AliasCreate);
        if (!body.Ok) return body.Error!;
        var done = await rules.Create(body.Value!.Source, body.Value.Destination);
        return done.Ok ? TypedResults.Created($"/api/v1/aliases/{done.Value!.Id}", done.Value) : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, AliasRules rules)
    {
        if (!Ids.TryParse(id, out var aliasId)) return Errors.InvalidId();
        var done = await rules.Delete(aliasId);
        return done.Ok ? Ack.Ok("alias deleted") : Errors.From(done);
    }
}
