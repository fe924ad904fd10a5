using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

internal sealed record QueueDelete(string? MessageId);

/// <summary>Section 11: the Postfix queue (postqueue -j / -f, postsuper -d), always for SYSROOT/etc/postfix.</summary>
internal static class QueueApi
{
    public static void MapQueue(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/postfix");
        group.MapGet("/queue", List);
        group.MapPost("/flush", Flush);
        group.MapPost("/queue/delete", Delete);
    }

    /// <summary>The whole queue, paged here (postqueue has no paging); any postqueue failure is 503, never an invented empty queue.</summary>
    static async Task<Results<Ok<ListPage<QueueMessage>>, JsonHttpResult<ApiError>>> List(HttpRequest request, PostfixQueue queue,
        ILogger<PostfixQueue> log, CancellationToken cancel)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (messages, bad, outcome) = await queue.List(cancel);
        if (!outcome.Ok) return Errors.Unavailable(outcome.Error, outcome.Detail);
        if (bad > 0) log.LogWarning("postqueue -j: skipped {Count} line(s) that were not queue entries", bad);
        var rows = messages.Skip((int)Math.Min(page.Offset, int.MaxValue)).Take(page.Limit).ToList();
        return TypedResults.Ok(ListPage<QueueMessage>.Of(rows, page, messages.Count));
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Flush(PostfixQueue queue, CancellationToken cancel)
    {
        var outcome = await queue.Flush(cancel);
        return outcome.Ok ? Ack.Ok("queue flushed") : Failure(outcome);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(HttpRequest request, PostfixQueue queue, CancellationToken cancel)
    {
        var body = await Body.Read(request, AppJson.Api.QueueDelete);
        if (!body.Ok) return body.Error!;
        var id = body.Value!.MessageId;
        if (string.IsNullOrEmpty(id)) return Errors.Validation("message_id missing");
        if (!PostfixQueue.IsQueueId(id))
            return Errors.Validation("invalid message_id", "message_id must be one Postfix queue id: 5 to 32 letters and digits (ALL is not accepted)");
        var outcome = await queue.Delete(id, cancel);
        return outcome.Ok ? Ack.Ok("message deleted") : Failure(outcome);
    }

    static JsonHttpResult<ApiError> Failure(PostfixOutcome outcome) =>
        outcome.Failure == PostfixFailure.Unavailable
            ? Errors.Unavailable(outcome.Error, outcome.Detail)
            : Errors.Internal(outcome.Error, outcome.Detail);
}
