using System.Text.Json.Serialization;
using MailPanel.Core;
using MailPanel.Store;
using MailPanel.Sys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MailPanel.Api;

/// <summary>GET /domains/:id/dns: the records to publish.</summary>
internal sealed record DnsHintsResponse(string Domain, List<DnsRecord> Records,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Note);

/// <summary>DNS hints (an addition to the reference, API.md): JSON, or zone-file text with ?format=zone.</summary>
internal static class DnsApi
{
    public static void MapDns(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/domains/{id}/dns", Get);

    static Results<Ok<DnsHintsResponse>, ContentHttpResult, JsonHttpResult<ApiError>> Get(string id, HttpRequest request, Db db, AppConfig config)
    {
        if (!Ids.TryParse(id, out var domainId)) return Errors.InvalidId();
        var format = request.Query["format"].ToString();
        if (format is not ("" or "json" or "zone")) return Errors.Validation("invalid format", "format is json (the default) or zone");
        if (DomainStore.Get(db, domainId) is not { } domain || ConfigStore.EffectiveDomain(db, domainId) is not { } effective)
            return Errors.NotFound("domain not found");
        var addresses = config.PublicIp.Count > 0 ? config.PublicIp : HostInfo.OutboundAddresses();
        var keys = DkimStore.ForDomain(db, domain.Name);
        static int Port(string listen) => Validate.TryParseListen(listen, out var ep) ? ep.Port : 0;
        var ports = new DnsHints.Ports(Port(config.SubmissionListen), Port(config.ImapListen), Port(config.ImapsListen), Port(config.Pop3Listen), Port(config.Pop3sListen));
        var records = DnsHints.For(domain.Name, config.MailHostname, addresses, domain.OutgoingIp, effective.SpfPolicy, effective.DmarcPolicy,
            [.. keys.Select((k, i) => new DnsDkimKey(k.Selector, DkimKeys.TxtValue(k.DnsRecord), i == 0))], ports);
        if (format == "zone") return TypedResults.Text(DnsHints.Zone(domain.Name, records), "text/plain; charset=utf-8");
        string? note = addresses.Count == 0 && domain.OutgoingIp.Length == 0
            ? "the server's public address is unknown (set PUBLIC_IP in config.env): SPF names only mx and no A/AAAA record is suggested"
            : null;
        return TypedResults.Ok(new DnsHintsResponse(domain.Name, records, note));
    }
}
