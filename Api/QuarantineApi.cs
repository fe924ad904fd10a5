using System.Text;
using MailPanel.Rules;
using MailPanel.Store;
using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>A quarantined message as the list shows it.</summary>
internal sealed record QuarantineView(long Id, string ReceivedAt, string Sender, IReadOnlyList<string> Recipients, double? Score,
    string Reason, string Virus, long Size, string Subject)
{
    public static QuarantineView Of(QuarantineEntry e) => new(e.Id, e.ReceivedAt, e.Sender, e.Recipients, e.Score, e.Reason, e.Virus, e.Size, e.Subject);
}

/// <summary>GET /quarantine/:id: the record and the message as received (UTF-8 text; invalid bytes read as U+FFFD).</summary>
internal sealed record QuarantineMessage(long Id, string ReceivedAt, string Sender, IReadOnlyList<string> Recipients, double? Score,
    string Reason, string Virus, long Size, string Subject, string Raw);

/// <summary>One scanner's state: "ok" or "unavailable", where it is looked for, and why not.</summary>
internal sealed record ScannerStatus(string Status, string Address, string Message);

/// <summary>GET /antispam/scanners.</summary>
internal sealed record ScannersStatus(ScannerStatus Spamd, ScannerStatus Clamd);

/// <summary>The content filter's quarantine (API.md "Quarantine") and the scanners' state.</summary>
internal static class QuarantineApi
{
    public static void MapQuarantine(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/quarantine");
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapPost("/{id}/release", Release);
        group.MapDelete("/{id}", Delete);
        app.MapGet("/api/v1/antispam/scanners", Scanners);
    }

    static Results<Ok<ListPage<QuarantineView>>, JsonHttpResult<ApiError>> List(HttpRequest request, QuarantineRules quarantine)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (rows, total) = quarantine.List(page);
        return TypedResults.Ok(ListPage<QuarantineView>.Of(rows.ConvertAll(QuarantineView.Of), page, total));
    }

    static Results<Ok<QuarantineMessage>, JsonHttpResult<ApiError>> Get(string id, QuarantineRules quarantine)
    {
        if (!Ids.TryParse(id, out var messageId)) return Errors.InvalidId();
        var read = quarantine.Read(messageId);
        if (!read.Ok) return Errors.From(read);
        var (e, raw) = read.Value!;
        return TypedResults.Ok(new QuarantineMessage(e.Id, e.ReceivedAt, e.Sender, e.Recipients, e.Score, e.Reason, e.Virus, e.Size, e.Subject,
            Encoding.UTF8.GetString(raw)));
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Release(string id, QuarantineRules quarantine, CancellationToken cancel)
    {
        if (!Ids.TryParse(id, out var messageId)) return Errors.InvalidId();
        var done = await quarantine.Release(messageId, cancel);
        return done.Ok ? Ack.Ok($"message released to {string.Join(", ", done.Value!.Recipients)}") : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, QuarantineRules quarantine, CancellationToken cancel)
    {
        if (!Ids.TryParse(id, out var messageId)) return Errors.InvalidId();
        var done = await quarantine.Delete(messageId, cancel);
        return done.Ok ? Ack.Ok("quarantined message deleted") : Errors.From(done);
    }

    /// <summary>Pings spamd (local or spam_remote_host) and clamd: "unavailable" with the reason when one does not answer.</summary>
    static async Task<Ok<ScannersStatus>> Scanners(ContentFilter filter, CancellationToken cancel)
    {
        var (host, port) = filter.Spamd();
        var spamd = await Sys.Scanners.PingSpamd(host, port, cancel);
        var clamd = await Sys.Scanners.PingClamd(filter.ClamdSocket, cancel);
        return TypedResults.Ok(new ScannersStatus(
            new ScannerStatus(spamd is null ? "ok" : "unavailable", $"{host}:{port}", spamd ?? ""),
            new ScannerStatus(clamd is null ? "ok" : "unavailable", filter.ClamdSocket, clamd ?? "")));
    }
}
