using MailPanel.Core;
using MailPanel.Mail;
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

    static async Task<Results<Created<Domain>, JsonHttpResult<ApiError>>> Create(HttpRequest request, Db db, Maildirs maildirs, Reconciler reconciler)
    {
        var body = await Body.Read(request, AppJson.Api.DomainCreate);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (string.IsNullOrWhiteSpace(input.Name)) return Errors.Validation("name is required");
        var name = input.Name.Trim().ToLowerInvariant();
        if (!Validate.IsDomainName(name)) return Errors.Validation("invalid domain name", $"'{input.Name}' is not a valid DNS domain name");
        var requestedIp = input.OutgoingIp?.Trim() ?? "";
        if (requestedIp is not ("" or "auto") && !Validate.IsIpLiteral(requestedIp))
            return Errors.Validation("invalid outgoing_ip", "outgoing_ip must be an IP address, \"auto\" or empty");

        using var write = await db.BeginWrite();
        if (DomainStore.GetByName(write, name) is not null) return Errors.Conflict("domain already exists");
        var outgoingIp = requestedIp;
        if (requestedIp == "auto")
        {
            outgoingIp = LeastUsedAddress(write) ?? "";
            if (outgoingIp.Length == 0)
                return Errors.Internal("balanced-IP selection failed", "outgoing_ip \"auto\": the host has no non-loopback address");
        }
        var domain = DomainStore.Insert(write, name, outgoingIp);
        try
        {
            maildirs.CreateDomain(name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Internal("maildir creation failed", e.Message); // the row is rolled back with the transaction
        }
        write.Commit();
        reconciler.Request("domain created");
        return TypedResults.Created($"/api/v1/domains/{domain.Id}", domain);
    }

    static async Task<Results<Ok<Domain>, JsonHttpResult<ApiError>>> Patch(string id, HttpRequest request, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.DomainPatch);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        var requestedIp = input.OutgoingIp?.Trim();
        if (requestedIp is not (null or "" or "auto") && !Validate.IsIpLiteral(requestedIp))
            return Errors.Validation("invalid outgoing_ip", "outgoing_ip must be an IP address, \"auto\" or empty");

        using var write = await db.BeginWrite();
        if (DomainStore.Get(write, domainId) is not { } current) return Errors.NotFound("domain not found");
        var outgoingIp = requestedIp ?? current.OutgoingIp;
        if (outgoingIp == "auto")
        {
            outgoingIp = LeastUsedAddress(write) ?? "";
            if (outgoingIp.Length == 0)
                return Errors.Internal("balanced-IP selection failed", "outgoing_ip \"auto\": the host has no non-loopback address");
        }
        var updated = DomainStore.Update(write, domainId, input.Active ?? current.Active, outgoingIp)!;
        write.Commit();
        reconciler.Request("domain updated");
        return TypedResults.Ok(updated);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, Db db, Maildirs maildirs, Reconciler reconciler, ILogger<Domain> log)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        Domain? domain;
        string? detached;
        using (var write = await db.BeginWrite())
        {
            domain = DomainStore.Get(write, domainId);
            if (domain is null) return Errors.NotFound("domain not found");
            DomainStore.Delete(write, domainId); // mailboxes, aliases and overrides go by ON DELETE CASCADE
            // Moved aside inside the lock, removed after it (see MailboxesApi.Delete).
            detached = MailboxesApi.DetachQuietly(() => maildirs.DetachDomain(domain.Name), "domain " + domain.Name, log);
            try
            {
                write.Commit();
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                Maildirs.Reattach(detached, maildirs.DomainDir(domain.Name));
                throw;
            }
        }
        MailboxesApi.RemoveDetachedQuietly(detached, "domain " + domain.Name, log);
        reconciler.Request("domain deleted");
        return Ack.Ok("domain deleted");
    }

    /// <summary>The host address fewest domains send from (ties: the host's own order, IPv4 first).</summary>
    static string? LeastUsedAddress(Db.Write write)
    {
        var use = DomainStore.OutgoingIpUse(write);
        return HostInfo.OutboundAddresses().OrderBy(ip => use.GetValueOrDefault(ip)).FirstOrDefault();
    }
}
