using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record MailboxCreate(long? DomainId, string? Username, string? Password, long? Quota);

internal sealed record MailboxPatch(long? Quota, bool? Active);

internal sealed record MailboxPassword(string? Password);

/// <summary>Section 3 of the reference, plus GET/PATCH of one mailbox and ?domain_id= on the list (API.md).</summary>
internal static class MailboxesApi
{
    public static void MapMailboxes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/mailboxes");
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapPost("/", Create);
        group.MapPatch("/{id}", Patch);
        group.MapPatch("/{id}/password", SetPassword);
        group.MapDelete("/{id}", Delete);
    }

    static Results<Ok<ListPage<Mailbox>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        if (!Ids.TryParseQuery(request, "domain_id", out var domainId, out error)) return error!;
        var (rows, total) = MailboxStore.List(db, page, domainId);
        return TypedResults.Ok(ListPage<Mailbox>.Of(rows, page, total));
    }

    static Results<Ok<Mailbox>, JsonHttpResult<ApiError>> Get(string id, Db db)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        return MailboxStore.Get(db, mailboxId) is { } mailbox ? TypedResults.Ok(mailbox) : Errors.NotFound("mailbox not found");
    }

    static async Task<Results<Created<Mailbox>, JsonHttpResult<ApiError>>> Create(HttpRequest request, MailboxRules rules)
    {
        var body = await Body.Read(request, AppJson.Api.MailboxCreate);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        var done = await rules.Create(input.DomainId, input.Username, input.Password, input.Quota);
        return done.Ok ? TypedResults.Created($"/api/v1/mailboxes/{done.Value!.Id}", done.Value) : Errors.From(done);
    }

    static async Task<Results<Ok<Mailbox>, JsonHttpResult<ApiError>>> Patch(string id, HttpRequest request, MailboxRules rules)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.MailboxPatch);
        if (!body.Ok) return body.Error!;
        var done = await rules.Update(mailboxId, body.Value!.Quota, body.Value.Active);
        return done.Ok ? TypedResults.Ok(done.Value) : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> SetPassword(string id, HttpRequest request, MailboxRules rules)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.MailboxPassword);
        if (!body.Ok) return body.Error!;
        var done = await rules.SetPassword(mailboxId, body.Value!.Password);
        return done.Ok ? Ack.Ok("password updated") : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, MailboxRules rules)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        var done = await rules.Delete(mailboxId);
        return done.Ok ? Ack.Ok("mailbox deleted") : Errors.From(done);
    }
}
