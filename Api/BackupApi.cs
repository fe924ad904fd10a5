using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>Section 14: stream the data plane out as one JSON document; replace it from one.</summary>
internal static class BackupApi
{
    /// <summary>Restore's body cap: a backup of 100,000 mailboxes is ~20 MiB; this leaves room for far more.</summary>
    public const long MaxRestoreBytes = 256L << 20;

    public static void MapBackup(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/backup", Export);
        app.MapPost("/api/v1/backup/restore", Restore);
    }

    static async Task Export(HttpContext context, Db db, TimeProvider time)
    {
        var now = time.GetUtcNow().UtcDateTime;
        try
        {
            await BackupStore.Export(db, context.Response.Body, Clock.Rfc3339(now), () =>
            {
                context.Response.ContentType = "application/json; charset=utf-8";
                context.Response.Headers.ContentDisposition = $"attachment; filename=\"backendside-mailpanel-backup-{now:yyyyMMdd-HHmmss}.json\"";
                return context.Response.StartAsync(context.RequestAborted);
            }, context.RequestAborted);
        }
        catch (Exception e) when (context.Response.HasStarted && e is not OperationCanceledException)
        {
            // Half a document must not look like a whole one: cut the connection instead of ending the body.
            context.RequestServices.GetRequiredService<ILogger<BackupDocument>>().LogError("backup export failed mid-stream: {Error}", e.Message);
            context.Abort();
        }
    }

    static async Task<Results<Ok<RestoreResult>, JsonHttpResult<ApiError>>> Restore(HttpContext context, Db db, Reconciler reconciler)
    {
        var size = context.Features.Get<IHttpMaxRequestBodySizeFeature>()!;
        if (!size.IsReadOnly) size.MaxRequestBodySize = MaxRestoreBytes;
        if (context.Request.ContentLength > MaxRestoreBytes) return Body.TooLarge();

        var body = await Body.Read(context.Request, AppJson.Api.BackupDocument);
        if (!body.Ok) return body.Error!;
        var doc = body.Value!;
        // The reference lists a schema-version mismatch under 500 "restore failed", not under 400.
        if (doc.SchemaVersion != Schema.Version)
            return Errors.Internal("restore failed: schema version mismatch",
                $"the backup has schema_version {doc.SchemaVersion}; this build restores version {Schema.Version} only. Nothing was changed.");
        if (BackupCheck.Check(doc) is { } error) return Errors.Validation("invalid backup document", error);
        // Stored in the canonical spelling the config PUTs store (a backup taken here already is).
        await BackupStore.Import(db, doc, ConfigRules.Normalize, context.RequestAborted);
        reconciler.Request("backup restored");
        // The backup carries key references, not keys: say which key files this host lacks (nothing signs with them).
        var missing = BackupCheck.MissingKeyFiles(doc);
        if (missing.Count > 0)
            context.RequestServices.GetRequiredService<ILogger<BackupDocument>>().LogWarning(
                "backup restored without these DKIM private key files (copy them from the old host; until then those keys do not sign): {Files}",
                string.Join(", ", missing));
        return TypedResults.Ok(new RestoreResult("backup restored", doc.Domains.Count, doc.Mailboxes.Count, doc.Aliases.Count)
        {
            MissingKeyFiles = missing.Count > 0 ? missing : null,
        });
    }
}

internal sealed record RestoreResult(string Message, long Domains, long Mailboxes, long Aliases)
{
    /// <summary>DKIM private key files the restored rows name and this host lacks; left out when there are none.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? MissingKeyFiles { get; init; }
}
