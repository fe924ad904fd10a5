using MailPanel.Core;
using MailPanel.Mail;
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

    static async Task<Results<Created<Alias>, JsonHttpResult<ApiError>>> Create(HttpRequest request, Db db, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.AliasCreate);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (string.IsNullOrEmpty(input.Source)) return Errors.Validation("source is required");
        var source = input.Source.ToLowerInvariant();
        var at = source.LastIndexOf('@');
        if (at <= 0 || at == source.Length - 1)
            return Errors.Validation("source must be of the form local@domain", $"'{input.Source}' is not local@domain");
        var local = source[..at];
        var domainName = source[(at + 1)..];
        if (!Validate.IsLocalPart(local))
            return Errors.Validation("invalid source", $"'{local}' is not a valid local part (RFC 5321 dot-atom, at most 64 characters)");
        var destination = Validate.AddressList(input.Destination, out var destinationError);
        if (destination is null) return Errors.Validation("invalid destination", destinationError);

        using var write = await db.BeginWrite();
        if (DomainStore.GetByName(write, domainName) is not { } domain)
            return Errors.Validation($"source domain {domainName} is not managed by this server");
        if (AliasStore.SourceExists(write, source)) return Errors.Conflict($"alias {source} already exists");
        var max = AliasStore.MaxInDomain(write, domain.Id);
        if (AliasStore.CountInDomain(write, domain.Id) >= max)
            return Errors.Conflict($"domain {domain.Name} has reached max_aliases ({max})");
        var alias = AliasStore.Insert(write, domain.Id, source, destination);
        write.Commit();
        reconciler.Request("alias created");
        return TypedResults.Created($"/api/v1/aliases/{alias.Id}", alias);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var aliasId)) return Errors.InvalidId();
        using (var write = await db.BeginWrite())
        {
            if (!AliasStore.Delete(write, aliasId)) return Errors.NotFound("alias not found");
            write.Commit();
        }
        reconciler.Request("alias deleted");
        return Ack.Ok("alias deleted");
    }
}
