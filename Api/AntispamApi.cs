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
    public const int MaxNote = 500;

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
        if (ConfigRules.Check(body.Value!) is { } error) return Errors.Validation(error);
        using (var write = await db.BeginWrite())
        {
            ConfigStore.SaveAntispam(write, ConfigRules.Normalize(body.Value!));
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

    static async Task<Results<Ok<WhitelistEntry>, JsonHttpResult<ApiError>>> Create(HttpRequest request, Db db, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.WhitelistCreate);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (input.EntryType is not ("ip" or "cidr" or "domain" or "email"))
            return Errors.Validation("entry_type must be one of ip, cidr, domain, email");
        if (string.IsNullOrWhiteSpace(input.Value)) return Errors.Validation("value is required");
        if (Canonical(input.EntryType, input.Value.Trim()) is not { } value)
            return Errors.Validation($"invalid {input.EntryType} value", $"'{input.Value}' is not a valid {Describe(input.EntryType)}");
        var note = input.Note ?? "";
        if (note.Length > MaxNote) return Errors.Validation($"note must be at most {MaxNote} characters");
        if (note.Any(char.IsControl)) return Errors.Validation("note must not contain control characters");

        WhitelistEntry entry;
        using (var write = await db.BeginWrite())
        {
            if (WhitelistStore.Exists(write, input.EntryType, value)) return Errors.Conflict("whitelist entry already exists");
            entry = WhitelistStore.Insert(write, input.EntryType, value, note);
            write.Commit();
        }
        reconciler.Request("whitelist entry added");
        return TypedResults.Ok(entry);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var entryId)) return Errors.InvalidId();
        using (var write = await db.BeginWrite())
        {
            if (!WhitelistStore.Delete(write, entryId)) return Errors.NotFound("whitelist entry not found");
            write.Commit();
        }
        reconciler.Request("whitelist entry deleted");
        return Ack.Ok("whitelist entry deleted");
    }

    /// <summary>
    /// The stored spelling of a value, or null when it is invalid for its type: IPs and networks in
    /// their canonical text form (so duplicates are caught however they were written), names lower-cased.
    /// </summary>
    static string? Canonical(string entryType, string value)
    {
        switch (entryType)
        {
            case "ip":
                return Validate.IsIpLiteral(value) ? IPAddress.Parse(value).ToString() : null;
            case "cidr":
                return value.Contains('/', StringComparison.Ordinal) && IpRules.TryParseRule(value, out var network) ? network.ToString() : null;
            case "domain":
                var domain = value.ToLowerInvariant();
                return Validate.IsDomainName(domain) ? domain : null;
            default:
                if (!Validate.IsEmailAddress(value)) return null;
                var at = value.LastIndexOf('@');
                return value[..at] + "@" + value[(at + 1)..].ToLowerInvariant();
        }
    }

    static string Describe(string entryType) => entryType switch
    {
        "ip" => "IPv4 or IPv6 address",
        "cidr" => "network in CIDR notation (address/prefix)",
        "domain" => "DNS domain name",
        _ => "RFC 5321 e-mail address",
    };
}
