using MailPanel.Rules;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record DkimGenerate(string? Domain, string? Selector);

/// <summary>POST /dkim/generate (201) and GET /dkim: the key's TXT record as <c>public_key</c>.</summary>
internal sealed record DkimPublicKey(string Domain, string Selector, string PublicKey, string PrivateKeyPath)
{
    public static DkimPublicKey Of(DkimKey k) => new(k.Domain, k.Selector, k.DnsRecord, k.PrivateKeyPath);
}

/// <summary>One entry of GET /dkim/list.</summary>
internal sealed record DkimListEntry(string Domain, string Selector, string DnsRecord);

/// <summary>Section 8 of the reference, plus DELETE /dkim to retire a key after a rotation (API.md).</summary>
internal static class DkimApi
{
    public static void MapDkim(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/dkim");
        group.MapPost("/generate", Generate);
        group.MapGet("/list", List);
        group.MapGet("/", Get);
        group.MapDelete("/", Delete);
    }

    static async Task<Results<Created<DkimPublicKey>, JsonHttpResult<ApiError>>> Generate(HttpRequest request, DkimRules rules)
    {
        var body = await Body.Read(request, AppJson.Api.DkimGenerate);
        if (!body.Ok) return body.Error!;
        var done = await rules.Generate(body.Value!.Domain, body.Value.Selector);
        if (!done.Ok) return Errors.From(done);
        return TypedResults.Created($"/api/v1/dkim?domain={done.Value!.Domain}&selector={done.Value.Selector}", DkimPublicKey.Of(done.Value));
    }

    static Results<Ok<ListPage<DkimListEntry>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (rows, total) = DkimStore.List(db, page);
        return TypedResults.Ok(ListPage<DkimListEntry>.Of(rows.ConvertAll(k => new DkimListEntry(k.Domain, k.Selector, k.DnsRecord)), page, total));
    }

    static Results<Ok<DkimPublicKey>, JsonHttpResult<ApiError>> Get(HttpRequest request, Db db)
    {
        var name = DkimRules.Name(request.Query["domain"], request.Query.TryGetValue("selector", out var s) ? s.ToString() : null);
        if (!name.Ok) return Errors.From(name);
        return DkimStore.Get(db, name.Value.Domain, name.Value.Selector) is { } key
            ? TypedResults.Ok(DkimPublicKey.Of(key))
            : Errors.NotFound("public key not found");
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(HttpRequest request, DkimRules rules)
    {
        var done = await rules.Delete(request.Query["domain"], request.Query.TryGetValue("selector", out var s) ? s.ToString() : null);
        return done.Ok ? Ack.Ok("dkim key deleted; it stops signing at the next reconcile") : Errors.From(done);
    }
}
