using Microsoft.Data.Sqlite;

namespace MailPanel.Api;

/// <summary>
/// Outermost middleware: whatever goes wrong reaches the client in the flat {error, detail, code}
/// shape — an unknown route, a wrong method, a framework-level 4xx, or an unhandled exception.
/// </summary>
internal static class ErrorShape
{
    public static IApplicationBuilder UseErrorShape(this IApplicationBuilder app) => app.Use(static (context, next) => Handle(context, next));

    static async Task Handle(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            if (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
                await Errors.Write(context, 413, "PAYLOAD_TOO_LARGE", "request body too large", e.Message);
            else
                await Errors.Write(context, e.StatusCode is >= 400 and < 500 ? e.StatusCode : 400, "VALIDATION_FAILED", "bad request", e.Message);
            return;
        }
        catch (SqliteException e) when (!context.Response.HasStarted)
        {
            Log(context, e);
            await Errors.Write(context, 503, "DEPENDENCY_UNAVAILABLE", "database unavailable", e.Message);
            return;
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            Log(context, e);
            await Errors.Write(context, 500, "INTERNAL_ERROR", "internal error", e.Message);
            return;
        }

        var response = context.Response;
        if (response.HasStarted || response.StatusCode < 400 || response.ContentType is not null) return;
        var (code, error) = response.StatusCode switch
        {
            404 => ("NOT_FOUND", "route not found"),
            405 => ("METHOD_NOT_ALLOWED", "method not allowed"),
            413 => ("PAYLOAD_TOO_LARGE", "request body too large"),
            415 => ("VALIDATION_FAILED", "unsupported media type"),
            >= 500 => ("INTERNAL_ERROR", "internal error"),
            _ => ("VALIDATION_FAILED", "bad request"),
        };
        await Errors.Write(context, response.StatusCode, code, error, $"{context.Request.Method} {context.Request.Path}: {error}");
    }

    static void Log(HttpContext context, Exception e) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("MailPanel.Errors")
            .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
}
