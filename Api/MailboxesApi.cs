using MailPanel.Core;
using MailPanel.Mail;
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

    static async Task<Results<Created<Mailbox>, JsonHttpResult<ApiError>>> Create(HttpRequest request, Db db, Maildirs maildirs, Reconciler reconciler, ILogger<Mailbox> log)
    {
        var body = await Body.Read(request, AppJson.Api.MailboxCreate);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (input.DomainId is null) return Errors.Validation("domain_id is required");
        if (input.DomainId <= 0) return Errors.Validation("invalid domain_id", "domain_id must be a positive integer");
        if (input.Username is null) return Errors.Validation("username is required");
        if (Passwords.Validate(input.Password) is { } passwordError) return Errors.Validation("invalid password", passwordError);
        var quota = input.Quota ?? 0;
        if (Validate.Range("quota", quota, 0, Validate.MaxBytes) is { } quotaError) return Errors.Validation("invalid quota", quotaError);
        var domainId = input.DomainId.Value;

        // Everything that can be refused without the write lock is refused here, before the ~60 ms
        // bcrypt hash; the lock is then held only for the SQL and the maildir.
        if (DomainStore.Get(db, domainId) is not { } domain) return Errors.NotFound("domain not found");
        if (Validate.MailboxUsername(input.Username, domainId, domain.Name, out var username) is { } usernameError)
            return Errors.Validation(usernameError);
        var hash = Passwords.Hash(input.Password!);

        using var write = await db.BeginWrite();
        if (DomainStore.Get(write, domainId) is null) return Errors.NotFound("domain not found"); // deleted meanwhile
        if (MailboxStore.Exists(write, domainId, username)) return Errors.Conflict($"mailbox {username}@{domain.Name} already exists");
        var max = MailboxStore.MaxInDomain(write, domainId);
        if (MailboxStore.CountInDomain(write, domainId) >= max)
            return Errors.Conflict($"domain {domain.Name} has reached max_mailboxes ({max})");
        var mailbox = MailboxStore.Insert(write, domainId, username, hash, quota);

        // The maildir is made inside the transaction so a filesystem failure rolls the row back; a
        // tree that was already there (left by an earlier failed delete) is reused, never removed.
        var existed = maildirs.MailboxExists(domain.Name, username);
        try
        {
            maildirs.CreateMailbox(domain.Name, username);
            write.Commit();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            if (!existed) RemoveQuietly(maildirs, domain.Name, username, log);
            return e is Microsoft.Data.Sqlite.SqliteException
                ? Errors.Internal("DB insert failed", e.Message)
                : Errors.Internal("maildir creation failed", e.Message); // the row goes with the rollback
        }
        reconciler.Request("mailbox created");
        return TypedResults.Created($"/api/v1/mailboxes/{mailbox.Id}", mailbox);
    }

    static async Task<Results<Ok<Mailbox>, JsonHttpResult<ApiError>>> Patch(string id, HttpRequest request, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.MailboxPatch);
        if (!body.Ok) return body.Error!;
        var input = body.Value!;
        if (Validate.Range("quota", input.Quota, 0, Validate.MaxBytes) is { } quotaError) return Errors.Validation("invalid quota", quotaError);

        using var write = await db.BeginWrite();
        if (MailboxStore.Get(write, mailboxId) is not { } current) return Errors.NotFound("mailbox not found");
        var updated = MailboxStore.Update(write, mailboxId, input.Quota ?? current.Quota, input.Active ?? current.Active)!;
        write.Commit();
        reconciler.Request("mailbox updated");
        return TypedResults.Ok(updated);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> SetPassword(string id, HttpRequest request, Db db, Reconciler reconciler)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        var body = await Body.Read(request, AppJson.Api.MailboxPassword);
        if (!body.Ok) return body.Error!;
        if (Passwords.Validate(body.Value!.Password) is { } passwordError) return Errors.Validation("invalid password", passwordError);
        if (MailboxStore.Get(db, mailboxId) is null) return Errors.NotFound("mailbox not found"); // before spending a hash
        var hash = Passwords.Hash(body.Value.Password!);

        using (var write = await db.BeginWrite())
        {
            if (!MailboxStore.SetPassword(write, mailboxId, hash)) return Errors.NotFound("mailbox not found");
            write.Commit();
        }
        reconciler.Request("mailbox password changed");
        return Ack.Ok("password updated");
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, Db db, Maildirs maildirs, Reconciler reconciler, ILogger<Mailbox> log)
    {
        if (!Ids.TryParse(id, out var mailboxId)) return Errors.InvalidId();
        Mailbox? mailbox;
        Domain? domain;
        string? detached;
        using (var write = await db.BeginWrite())
        {
            mailbox = MailboxStore.Get(write, mailboxId);
            if (mailbox is null) return Errors.NotFound("mailbox not found");
            domain = DomainStore.Get(write, mailbox.DomainId)!; // domain_id is a NOT NULL foreign key
            MailboxStore.Delete(write, mailboxId); // its overrides go by ON DELETE CASCADE
            // The tree moves aside inside the lock: a re-create of the same address after the commit
            // gets a fresh tree that the removal below cannot reach.
            detached = DetachQuietly(() => maildirs.DetachMailbox(domain.Name, mailbox.Username), $"{mailbox.Username}@{domain.Name}", log);
            try
            {
                write.Commit();
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                Maildirs.Reattach(detached, maildirs.MailboxDir(domain.Name, mailbox.Username));
                throw;
            }
        }
        RemoveDetachedQuietly(detached, $"{mailbox.Username}@{domain.Name}", log);
        reconciler.Request("mailbox deleted");
        return Ack.Ok("mailbox deleted");
    }

    /// <summary>The row goes either way; a tree that cannot be moved or removed is the operator's to clean up, so it is logged.</summary>
    internal static string? DetachQuietly(Func<string?> detach, string what, ILogger log)
    {
        try
        {
            return detach();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("maildir of {What} could not be moved aside for removal: {Error}", what, e.Message);
            return null;
        }
    }

    internal static void RemoveDetachedQuietly(string? detached, string what, ILogger log)
    {
        try
        {
            Maildirs.RemoveDetached(detached);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("maildir of {What} could not be removed ({Path}): {Error}", what, detached, e.Message);
        }
    }

    /// <summary>The row is gone either way; a tree that cannot be removed is the operator's to clean up, so it is logged.</summary>
    static void RemoveQuietly(Maildirs maildirs, string domain, string username, ILogger log)
    {
        try
        {
            maildirs.RemoveMailbox(domain, username);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("maildir of {Username}@{Domain} could not be removed: {Error}", username, domain, e.Message);
        }
    }
}
