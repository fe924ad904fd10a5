using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>
/// Reads a JSON request body into a source-generated type. Every failure becomes a flat 4xx: an
/// empty or non-object body, malformed JSON, a wrong type, an unknown field (a typo must not be
/// silently ignored), a missing required field, or a body over the size cap (413).
/// </summary>
internal static class Body
{
    /// <summary>Default cap on request bodies; routes that take documents (restore, TLS upload) raise it.</summary>
    public const long MaxBytes = 1 << 20;

    public readonly record struct Result<T>(T? Value, JsonHttpResult<ApiError>? Error)
    {
        public bool Ok => Error is null;
    }

    public static async Task<Result<T>> Read<T>(HttpRequest request, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            if (request.ContentLength == 0) return Fail<T>("request body is required", "send a JSON object");
            var value = await JsonSerializer.DeserializeAsync(request.Body, type, request.HttpContext.RequestAborted);
            return value is null ? Fail<T>("request body must be a JSON object", "got null") : new Result<T>(value, null);
        }
        catch (JsonException e)
        {
            var (error, detail) = Describe(e);
            return Fail<T>(error, detail);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return new Result<T>(null, TooLarge());
        }
        catch (BadHttpRequestException e)
        {
            return Fail<T>("unreadable request body", e.Message);
        }
    }

    public static JsonHttpResult<ApiError> TooLarge() =>
        Errors.Make(StatusCodes.Status413PayloadTooLarge, "PAYLOAD_TOO_LARGE", "request body too large",
            "the request body exceeds the size limit for this route");

    static Result<T> Fail<T>(string error, string detail) where T : class => new(null, Errors.Validation(error, detail));

    /// <summary>
    /// Names what is wrong in the client's terms (field path, expected kind), without .NET type
    /// names. The category comes from where the reader stopped, not from the exception's text.
    /// </summary>
    static (string Error, string Detail) Describe(JsonException e)
    {
        var field = e.Path is { Length: > 2 } p ? p[2..] : null; // "$.quota" -> "quota"
        var at = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
        var inner = e.Message;
        if (inner.Contains("UnmappedJsonProperty", StringComparison.Ordinal) || inner.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var name = UnknownName(inner) ?? field ?? "?";
            return ($"unknown field '{name}'", $"'{name}' is not a field of this request; check its spelling");
        }
        if (inner.Contains("required properties", StringComparison.Ordinal) || inner.Contains("RequiredProperties", StringComparison.Ordinal))
            return ("missing required field(s)", "this request replaces the object in full: send every field");
        if (inner.Contains("uplicate", StringComparison.Ordinal))
            return ($"duplicate field '{field}'", "each field may appear once");
        if (e.InnerException is FormatException or InvalidOperationException or OverflowException || inner.Contains("convert", StringComparison.OrdinalIgnoreCase))
            return field is null
                ? ("request body must be a JSON object", "the body is JSON, but not an object of the expected shape")
                : ($"invalid value for '{field}'", $"'{field}' has the wrong type or is out of range{at}");
        return ("malformed JSON", $"the body is not valid JSON{at}");
    }

    /// <summary>The property name System.Text.Json reports for an unmapped member (quoted in English, comma-separated as a resource key).</summary>
    static string? UnknownName(string message)
    {
        var start = message.IndexOf('\'', StringComparison.Ordinal);
        var end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        if (end > start) return message[(start + 1)..end];
        var parts = message.Split(", ");
        return parts.Length >= 2 ? parts[1] : null;
    }
}
