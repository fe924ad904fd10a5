using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record DomainCreate(string? Name, string? OutgoingIp);

internal sealed record DomainPatch(bool? Active, string? OutgoingIp);

/// <summary>Section 2 of the reference, plus GET/PATCH of one domain (API.md).</summary>
internal static class DomainsApi
{
    public static void MapDomains(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/domains");
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapPost("/", Create);
        group.MapPatch("/{id}", Patch);
        group.MapDelete("/{id}", Delete);
    }

    static Results<Ok<ListPage<Domain>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (rows, total) = DomainStore.List(db, page);
        return TypedResults.Ok(ListPage<Domain>.Of(rows, page, total));
    }

    static Results<Ok<Domain>, JsonHttpResult<ApiError>> Get(string id, Db db)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        return DomainStore.Get(db, domainId) is { } domain ? TypedResults.Ok(domain) : Errors.NotFound("domain not found");
    }

    static async Task<Results<Created<Domain>, JsonHttpResult<ApiError>>> Create(HttpRequest request, DomainRules rules)
    {
        var body = await Body.Read(request, AppJson.Api.DomainCreate);
        if (!body.Ok) return body.Error!;
        var done = await rules.Create(body.Value!.Name, body.Value.OutgoingIp);
        return done.Ok ? TypedResults.Created($"/api/v1/domains/{done.Value!.Id}", done.Value) : Errors.From(done);
    }

    static async Task<Results<Ok<Domain>, JsonHttpResult<ApiError>>> Patch(string id, HttpRequest request, DomainRules rules)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.DomainPatch);
        if (!body.Ok) return body.Error!;
        var done = await rules.Update(domainId, body.Value!.Active, body.Value.OutgoingIp);
        return done.Ok ? TypedResults.Ok(done.Value) : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, DomainRules rules)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        var done = await rules.Delete(domainId);
        return done.Ok ? Ack.Ok("domain deleted") : Errors.From(done);
    }
}
