using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record TokenCreate(string? Name);

internal sealed record TokenSecret(long Id, string Name, string Token, string CreatedAt);

/// <summary>Managed API tokens (runtime-contract.md, "Managed tokens"). The secret is shown once, stored as SHA-256.</summary>
internal static class TokensApi
{
    public static void MapTokens(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/admin/tokens");
        group.MapGet("/", List);
        group.MapPost("/", Create);
        group.MapPost("/{id}/rotate", Rotate);
        group.MapDelete("/{id}", Revoke);
    }

    static Results<Ok<ListPage<ApiToken>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (rows, total) = TokenStore.List(db, page);
        return TypedResults.Ok(ListPage<ApiToken>.Of(rows, page, total));
    }

    static async Task<Results<Created<TokenSecret>, JsonHttpResult<ApiError>>> Create(HttpRequest request, Db db, Access access)
    {
        var body = await Body.Read(request, AppJson.Api.TokenCreate);
        if (!body.Ok) return body.Error!;
        var name = body.Value!.Name?.Trim();
        if (string.IsNullOrEmpty(name)) return Errors.Validation("name is required");
        if (name.Length > 100 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            return Errors.Validation("invalid name", "a token name is 1-100 letters, digits, '-', '_' or '.'");

        TokenSecret created;
        using (var write = await db.BeginWrite())
        {
            if (TokenStore.NameExists(write, name)) return Errors.Conflict("a token with this name already exists");
            var row = TokenStore.Insert(write, name);
            var secret = Access.NewSecret(row.Id);
            TokenStore.SetHash(write, row.Id, Access.Digest(secret));
            write.Commit();
            created = new TokenSecret(row.Id, row.Name, secret, row.CreatedAt);
        }
        access.ReloadTokens();
        return TypedResults.Created($"/api/v1/admin/tokens/{created.Id}", created);
    }

    static async Task<Results<Ok<TokenSecret>, JsonHttpResult<ApiError>>> Rotate(string id, Db db, Access access)
    {
        if (!Ids.TryParse(id, out var tokenId)) return Errors.InvalidId();
        TokenSecret rotated;
        using (var write = await db.BeginWrite())
        {
            if (TokenStore.Get(write, tokenId) is not { } row) return Errors.NotFound("token not found");
            var secret = Access.NewSecret(row.Id);
            TokenStore.SetHash(write, row.Id, Access.Digest(secret));
            write.Commit();
            rotated = new TokenSecret(row.Id, row.Name, secret, row.CreatedAt);
        }
        access.ReloadTokens();
        return TypedResults.Ok(rotated);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Revoke(string id, Db db, Access access)
    {
        if (!Ids.TryParse(id, out var tokenId)) return Errors.InvalidId();
        using (var write = await db.BeginWrite())
        {
            if (!TokenStore.Delete(write, tokenId)) return Errors.NotFound("token not found");
            write.Commit();
        }
        access.ReloadTokens();
        return Ack.Ok("token revoked");
    }
}
