using MailPanel.Rules;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>The flat error body of the reference: {"error", "detail", "code"}.</summary>
internal sealed record ApiError(string Error, string Detail, string Code);

/// <summary>The one place error bodies are built. Handlers return these; none formats an error by hand.</summary>
internal static class Errors
{
    public static JsonHttpResult<ApiError> Make(int status, string code, string error, string? detail = null) =>
        TypedResults.Json(new ApiError(error, detail ?? error, code), AppJson.Api.ApiError, statusCode: status);

    public static JsonHttpResult<ApiError> Validation(string error, string? detail = null) =>
        Make(StatusCodes.Status400BadRequest, "VALIDATION_FAILED", error, detail);

    public static JsonHttpResult<ApiError> InvalidId() => Validation("invalid id", "the id in the path must be a positive integer");

    public static JsonHttpResult<ApiError> NotFound(string error) => Make(StatusCodes.Status404NotFound, "NOT_FOUND", error);

    public static JsonHttpResult<ApiError> Conflict(string error) => Make(StatusCodes.Status409Conflict, "CONFLICT", error);

    public static JsonHttpResult<ApiError> Unauthorized(string detail) =>
        Make(StatusCodes.Status401Unauthorized, "UNAUTHORIZED", "unauthorized", detail);

    public static JsonHttpResult<ApiError> Internal(string error, string? detail = null) =>
        Make(StatusCodes.Status500InternalServerError, "INTERNAL_ERROR", error, detail);

    public static JsonHttpResult<ApiError> Unavailable(string error, string? detail = null) =>
        Make(StatusCodes.Status503ServiceUnavailable, "DEPENDENCY_UNAVAILABLE", error, detail);

    /// <summary>A rule's refusal (Rules/Outcome.cs) as the reference's status and code.</summary>
    public static JsonHttpResult<ApiError> From<T>(Outcome<T> refused) => refused.Refused switch
    {
        Refusal.Invalid => Validation(refused.Error, refused.Detail),
        Refusal.NotFound => NotFound(refused.Error),
        Refusal.Conflict => Conflict(refused.Error),
        _ => Internal(refused.Error, refused.Detail),
    };

    /// <summary>Writes an error outside an endpoint (gate, fallback, exception handler).</summary>
    public static Task Write(HttpContext context, int status, string code, string error, string? detail = null)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new ApiError(error, detail ?? error, code), AppJson.Api.ApiError);
    }
}

/// <summary>The acknowledgement body of a mutation: {"message": "..."}.</summary>
internal sealed record Ack(string Message)
{
    public static Ok<Ack> Ok(string message) => TypedResults.Ok(new Ack(message));
}
