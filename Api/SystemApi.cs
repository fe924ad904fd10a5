using System.Text.Json.Serialization;
using MailPanel.Mail;
using MailPanel.Store;
using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record AboutInfo(string App, string Version, string Build, string Copyright, string Website,
    string Hostname, string Os, string Postfix, string Dovecot);

/// <summary>One check of /health; "message" appears only when there is something to say.</summary>
internal sealed record HealthCheck(string Status, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Message = null);

internal sealed record MaildirCheck(string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? FreeSpace,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Message = null);

internal sealed record HealthChecks(HealthCheck Database, HealthCheck Postfix, HealthCheck Dovecot, MaildirCheck Maildir);

internal sealed record Health(string Status, string Version, string Build, HealthChecks Checks);

/// <summary>POST /system/reconcile, 200: what the apply did, step by step.</summary>
internal sealed record ReconcileApplied(string Message, IReadOnlyList<string> Log);

/// <summary>POST /system/reconcile, 500: the flat error shape plus the log up to the failing step.</summary>
internal sealed record ReconcileFailed(string Error, string Detail, string Code, IReadOnlyList<string> Log);

/// <summary>Section 15: build identification and the deep health probe.</summary>
internal static class SystemApi
{
    /// <summary>Below either threshold the maildir check warns (200): 5 % of the filesystem, 1 GiB.</summary>
    public const double LowSpaceFraction = 0.05;
    public const long LowSpaceBytes = 1L << 30;

    public static void MapSystem(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/system/about", GetAbout);
        app.MapGet("/health", GetHealth); // open and never rate-limited: the gate lets it through
        app.MapPost("/api/v1/system/reconcile", Reconcile);
    }

    /// <summary>Section 13: one apply, now, waiting for any background apply to finish first.</summary>
    static async Task<Results<Ok<ReconcileApplied>, JsonHttpResult<ReconcileFailed>>> Reconcile(Reconciler reconciler, CancellationToken cancel)
    {
        var result = await reconciler.RunNow(cancel);
        if (result.Ok) return TypedResults.Ok(new ReconcileApplied("mail config applied", result.Log));
        return TypedResults.Json(new ReconcileFailed($"reconcile failed at step: {result.FailedStep}", result.Error ?? "", "INTERNAL_ERROR", result.Log),
            AppJson.Api.ReconcileFailed, statusCode: StatusCodes.Status500InternalServerError);
    }

    static async Task<Ok<AboutInfo>> GetAbout(AppConfig config, Services services, CancellationToken cancel)
    {
        var postfix = await services.Version("postfix", cancel);
        var dovecot = await services.Version("dovecot", cancel);
        return TypedResults.Ok(new AboutInfo(About.App, About.Version, About.Build, About.Copyright, About.Website,
            HostInfo.HostName(), HostInfo.OsName(config.HostPath("/etc/os-release")),
            postfix ?? "not installed", dovecot ?? "not installed"));
    }

    /// <summary>
    /// 503 when the database, the maildir root or an installed-but-stopped mail daemon fails; "warn"
    /// (200) for low disk space or a daemon whose state cannot be told. Details stay terse: the route
    /// is unauthenticated.
    /// </summary>
    static async Task<JsonHttpResult<Health>> GetHealth(Db db, AppConfig config, Services services, ILogger<Health> log, CancellationToken cancel)
    {
        var checks = new HealthChecks(
            Database(db, log),
            await Daemon(services, "postfix", cancel),
            await Daemon(services, "dovecot", cancel),
            Maildir(config.VmailDir));
        string[] states = [checks.Database.Status, checks.Postfix.Status, checks.Dovecot.Status, checks.Maildir.Status];
        var failed = states.Any(s => s is "error" or "down");
        var status = failed ? "error" : states.Any(s => s == "warn") ? "warn" : "ok";
        return TypedResults.Json(new Health(status, About.Version, About.Build, checks), AppJson.Api.Health,
            statusCode: failed ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK);
    }

    /// <summary>
    /// Reads the schema version through a pooled connection. Unlike SELECT 1 this reads the file's
    /// header, so a deleted, unreadable or foreign database file shows up here.
    /// </summary>
    static HealthCheck Database(Db db, ILogger log)
    {
        try
        {
            using var connection = db.Open();
            var version = connection.Command("PRAGMA user_version;").Scalar();
            if (version == Schema.Version) return new HealthCheck("ok");
            log.LogError("health: database schema version {Found}, expected {Expected}", version, Schema.Version);
            return new HealthCheck("error", "unexpected schema version");
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            log.LogError("health: database check failed: {Error}", e.Message);
            return new HealthCheck("error", "database unavailable");
        }
    }

    static async Task<HealthCheck> Daemon(Services services, string name, CancellationToken cancel)
    {
        if (!services.IsInstalled(name)) return new HealthCheck("not_installed");
        var status = await services.Status(name, cancel);
        return status.State switch
        {
            ServiceState.Running => new HealthCheck("ok"),
            ServiceState.Stopped => new HealthCheck("down", "not running"),
            _ => new HealthCheck("warn", "state unknown"),
        };
    }

    static MaildirCheck Maildir(string vmailDir)
    {
        if (HostInfo.Disk(vmailDir) is not { } disk) return new MaildirCheck("error", null, "maildir root missing or unreadable");
        var status = MaildirStatus(disk.Free, disk.Total);
        return new MaildirCheck(status, HostInfo.HumanBytes(disk.Free), status == "warn" ? "low free space" : null);
    }

    /// <summary>"warn" below 5 % free or 1 GiB free, else "ok".</summary>
    public static string MaildirStatus(long free, long total) =>
        free < LowSpaceBytes || (total > 0 && free < total * LowSpaceFraction) ? "warn" : "ok";
}
