using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>GET /postfix/status and /dovecot/status: running | stopped | unknown; message "" when running.</summary>
internal sealed record DaemonStatus(string Name, string Status, string Message);

/// <summary>Section 12: mail counts from the logs and the daemons' status.</summary>
internal static class StatsApi
{
    public static void MapStats(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/stats/mail", Mail);
        app.MapGet("/api/v1/postfix/status", (Services services, CancellationToken cancel) => Status(services, "postfix", cancel));
        app.MapGet("/api/v1/dovecot/status", (Services services, CancellationToken cancel) => Status(services, "dovecot", cancel));
    }

    /// <summary>Never an error: unreadable logs count as zero (reference section 12).</summary>
    static async Task<Ok<MailCounts>> Mail(MailStats stats, CancellationToken cancel) =>
        TypedResults.Ok(await stats.Get(cancel));

    static async Task<Ok<DaemonStatus>> Status(Services services, string name, CancellationToken cancel)
    {
        if (!services.IsInstalled(name))
            return TypedResults.Ok(new DaemonStatus(name, "stopped", $"{name} is not installed"));
        var status = await services.Status(name, cancel);
        return TypedResults.Ok(status.State switch
        {
            ServiceState.Running => new DaemonStatus(name, "running", ""),
            ServiceState.Stopped => new DaemonStatus(name, "stopped", status.Message),
            _ => new DaemonStatus(name, "unknown", status.Message),
        });
    }
}
