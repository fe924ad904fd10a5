using MailPanel.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>Reads ?page=N&amp;limit=N into a <see cref="Page"/>; anything out of range is a 400.</summary>
internal static class PageQuery
{
    public static bool TryParse(HttpRequest request, out Page page, out JsonHttpResult<ApiError>? error)
    {
        page = new Page(1, Page.DefaultLimit);
        error = null;
        if (!TryInt(request, "page", 1, Page.MaxPage, 1, out var number, out error)) return false;
        if (!TryInt(request, "limit", 1, Page.MaxLimit, Page.DefaultLimit, out var limit, out error)) return false;
        page = new Page(number, limit);
        return true;
    }

    static bool TryInt(HttpRequest request, string name, int min, int max, int fallback, out int value, out JsonHttpResult<ApiError>? error)
    {
        value = fallback;
        error = null;
        var values = request.Query[name];
        if (values.Count == 0) return true;
        if (values.Count > 1 || !int.TryParse(values[0], System.Globalization.NumberStyles.None, null, out value) || value < min || value > max)
        {
            error = Errors.Validation($"invalid {name}", $"{name} must be an integer from {min} to {max}");
            return false;
        }
        return true;
    }
}

internal sealed record PageMeta(int Page, int Limit, long Total);

/// <summary>The list envelope of the reference: {"data": [...], "meta": {"page", "limit", "total"}}.</summary>
internal sealed record ListPage<T>(IReadOnlyList<T> Data, PageMeta Meta)
{
    public static ListPage<T> Of(IReadOnlyList<T> data, Page page, long total) =>
        new(data, new PageMeta(page.Number, page.Limit, total));
}

internal static class Ids
{
    /// <summary>Path ids are positive 63-bit integers; anything else is a 400, never a 404 or 500.</summary>
    public static bool TryParse(string? text, out long id) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, null, out id) && id > 0;

    /// <summary>An optional id filter in the query string (?domain_id=N): absent is null, anything but one positive integer is a 400.</summary>
    public static bool TryParseQuery(HttpRequest request, string name, out long? id, out JsonHttpResult<ApiError>? error)
    {
        id = null;
        error = null;
        var values = request.Query[name];
        if (values.Count == 0) return true;
        if (values.Count > 1 || !TryParse(values[0], out var value))
        {
            error = Errors.Validation($"invalid {name}", $"{name} must be a positive integer");
            return false;
        }
        id = value;
        return true;
    }
}
