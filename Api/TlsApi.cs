using System.Text.Json.Serialization;
using MailPanel.Core;
using MailPanel.Rules;
using MailPanel.Store;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>One entry of GET /tls/certs; expires_at is omitted when unknown.</summary>
internal sealed record TlsCertView(long Id, string Hostname, string CertPath, string KeyPath, string Issuer,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ExpiresAt, string CreatedAt)
{
    public static TlsCertView Of(TlsCert c) => new(c.Id, c.Hostname, c.CertPath, c.KeyPath, c.Issuer, c.ExpiresAt, c.CreatedAt);
}

internal sealed record TlsIssue(string? Domain, string? Email);

internal sealed record TlsUploadResponse(string Message, string ExpiresAt);

/// <summary>Section 9 of the reference: the certificates the mail stack presents.</summary>
internal static class TlsApi
{
    /// <summary>The whole multipart body: two PEM fields of at most <see cref="TlsBundle.MaxPemChars"/> plus framing, with room to answer an oversized field with a 400.</summary>
    public const long MaxUploadBytes = 8 << 20;

    public static void MapTls(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/tls");
        group.MapGet("/certs", List);
        group.MapDelete("/certs/{id}", Delete);
        group.MapPost("/issue", Issue);
        group.MapPost("/renew", Renew);
        group.MapPost("/upload", Upload);
    }

    static Results<Ok<ListPage<TlsCertView>>, JsonHttpResult<ApiError>> List(HttpRequest request, Db db)
    {
        if (!PageQuery.TryParse(request, out var page, out var error)) return error!;
        var (rows, total) = TlsStore.List(db, page);
        return TypedResults.Ok(ListPage<TlsCertView>.Of(rows.ConvertAll(TlsCertView.Of), page, total));
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Delete(string id, TlsRules rules)
    {
        if (!Ids.TryParse(id, out var certId)) return Errors.InvalidId();
        var done = await rules.Delete(certId);
        return done.Ok ? Ack.Ok("certificate record removed") : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Issue(HttpRequest request, TlsRules rules)
    {
        var body = await Body.Read(request, AppJson.Api.TlsIssue);
        if (!body.Ok) return body.Error!;
        var done = await rules.Issue(body.Value!.Domain, body.Value.Email, request.HttpContext.RequestAborted);
        return done.Ok ? Ack.Ok("certificate issued") : Errors.From(done);
    }

    static async Task<Results<Ok<Ack>, JsonHttpResult<ApiError>>> Renew(HttpRequest request, TlsRules rules)
    {
        var done = await rules.Renew(request.HttpContext.RequestAborted);
        return done.Ok ? Ack.Ok("certificates renewed") : Errors.From(done);
    }

    /// <summary>The one route that is not JSON: multipart/form-data with hostname, cert_pem and key_pem (fields or file parts).</summary>
    static async Task<Results<Ok<TlsUploadResponse>, JsonHttpResult<ApiError>>> Upload(HttpContext context, TlsRules rules)
    {
        var size = context.Features.Get<IHttpMaxRequestBodySizeFeature>()!;
        if (!size.IsReadOnly) size.MaxRequestBodySize = MaxUploadBytes;
        if (context.Request.ContentLength > MaxUploadBytes) return Body.TooLarge();
        if (!context.Request.HasFormContentType)
            return Errors.Validation("request body must be multipart/form-data", "send the form fields hostname, cert_pem and key_pem (curl -F)");
        IFormCollection form;
        try
        {
            // A field over the PEM cap fails here, before anything is buffered beyond it.
            form = await context.Request.ReadFormAsync(new FormOptions
            {
                ValueLengthLimit = TlsBundle.MaxPemChars,
                MultipartBodyLengthLimit = MaxUploadBytes,
                ValueCountLimit = 16,
            }, context.RequestAborted);
        }
        catch (InvalidDataException e)
        {
            return Errors.Validation("unreadable form", e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                ? $"a form field is over {TlsBundle.MaxPemChars} characters: a PEM chain or key is never that large"
                : "the multipart/form-data body is malformed");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Body.TooLarge();
        }
        catch (Exception e) when (e is BadHttpRequestException or IOException)
        {
            return Errors.Validation("unreadable form", "the multipart/form-data body could not be read");
        }
        var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in new[] { "hostname", "cert_pem", "key_pem" })
        {
            var value = await Field(form, name);
            if (value.Error is { } tooLarge) return tooLarge;
            fields[name] = value.Text;
        }
        var done = await rules.Upload(fields["hostname"], fields["cert_pem"], fields["key_pem"]);
        return done.Ok ? TypedResults.Ok(new TlsUploadResponse("certificate uploaded and applied", done.Value!.ExpiresAt)) : Errors.From(done);
    }

    /// <summary>A form field's text, or the same field sent as a file part (curl -F name=@file).</summary>
    static async Task<(string? Text, JsonHttpResult<ApiError>? Error)> Field(IFormCollection form, string name)
    {
        if (form.TryGetValue(name, out var value) && value.Count > 0) return (value[0], null);
        if (form.Files.GetFile(name) is not { } file) return (null, null);
        if (file.Length > TlsBundle.MaxPemChars)
            return (null, Errors.Validation($"{name} is too large", $"a PEM part is at most {TlsBundle.MaxPemChars} bytes"));
        using var reader = new StreamReader(file.OpenReadStream());
        return (await reader.ReadToEndAsync(), null);
    }
}
