using System.Net;

namespace MailPanel.Tests;

/// <summary>GET /domains/:id/dns: what the operator publishes, as JSON and as a zone that named-checkzone accepts.</summary>
public class DnsTests
{
    const string Extra = "MAIL_HOSTNAME=mail.example.com\nPUBLIC_IP=203.0.113.5 2001:db8::5\nIMAPS_LISTEN=0.0.0.0:10993";

    [Fact]
    public async Task TheHintsNameMxSpfDkimDmarcAndSrvFromTheEffectiveConfig()
    {
        await using var s = await TestServer.Start(extra: Extra);
        var id = await s.CreateDomain("example.com");
        (await s.Put($"/api/v1/domains/{id}/overrides", """{"spf_policy":"-all","dmarc_policy":"reject"}""")).AssertStatus(HttpStatusCode.OK);
        (await s.Post("/api/v1/dkim/generate", """{"domain":"example.com","selector":"old"}""")).AssertStatus(HttpStatusCode.Created);
        await Task.Delay(1100); // created_at has second resolution: the second key is the newer one
        (await s.Post("/api/v1/dkim/generate", """{"domain":"example.com","selector":"new"}""")).AssertStatus(HttpStatusCode.Created);
        var txt = DkimKeys.TxtValue((await s.Get("/api/v1/dkim?domain=example.com&selector=new")).Json["public_key"]!.GetValue<string>());

        var r = await s.Get($"/api/v1/domains/{id}/dns");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(["domain", "records"], r.Json.AsObject().Select(p => p.Key));
        var records = r.Json["records"]!.AsArray().Select(n => (Type: n!["type"]!.GetValue<string>(), Name: n["name"]!.GetValue<string>(),
            Value: n["value"]!.GetValue<string>())).ToList();
        Assert.Equal(["type", "name", "value", "ttl", "purpose"], r.Json["records"]![0]!.AsObject().Select(p => p.Key));
        Assert.Contains(("MX", "example.com.", "10 mail.example.com."), records);
        Assert.Contains(("A", "mail.example.com.", "203.0.113.5"), records);
        Assert.Contains(("AAAA", "mail.example.com.", "2001:db8::5"), records);
        Assert.Contains(("TXT", "example.com.", "v=spf1 mx ip4:203.0.113.5 ip6:2001:db8::5 -all"), records);
        Assert.Contains(("TXT", "new._domainkey.example.com.", txt), records);
        Assert.Contains(records, x => x.Name == "old._domainkey.example.com." && x.Value.StartsWith("v=DKIM1; h=sha256; k=rsa; p=", StringComparison.Ordinal));
        Assert.Contains(("TXT", "_dmarc.example.com.", "v=DMARC1; p=reject; rua=mailto:postmaster@example.com; adkim=r; aspf=r"), records);
        Assert.Contains(("SRV", "_submission._tcp.example.com.", "0 1 587 mail.example.com."), records);
        Assert.Contains(("SRV", "_imaps._tcp.example.com.", "0 1 10993 mail.example.com."), records); // the port IMAPS_LISTEN names
        Assert.Contains(("CNAME", "autoconfig.example.com.", "mail.example.com."), records);
        var purposes = r.Json["records"]!.AsArray().Where(n => n!["name"]!.GetValue<string>().EndsWith("_domainkey.example.com.", StringComparison.Ordinal))
            .ToDictionary(n => n!["name"]!.GetValue<string>(), n => n!["purpose"]!.GetValue<string>());
        Assert.Equal("DKIM public key of the key that signs", purposes["new._domainkey.example.com."]);

        // A domain whose mail host lies elsewhere gets no A record, and its outgoing_ip joins the SPF record.
        var other = await s.CreateDomain("other.org");
        (await s.Patch($"/api/v1/domains/{other}", """{"outgoing_ip":"127.0.0.1"}""")).AssertStatus(HttpStatusCode.OK);
        var o = (await s.Get($"/api/v1/domains/{other}/dns")).Json["records"]!.AsArray();
        Assert.DoesNotContain(o, n => n!["type"]!.GetValue<string>() is "A" or "AAAA");
        Assert.Contains(o, n => n!["value"]!.GetValue<string>() == "v=spf1 mx ip4:203.0.113.5 ip4:127.0.0.1 ip6:2001:db8::5 ~all");
    }

    [Fact]
    public async Task TheZoneFormatIsAcceptedByNamedCheckzone()
    {
        await using var s = await TestServer.Start(extra: Extra);
        var id = await s.CreateDomain("example.com");
        (await s.Post("/api/v1/dkim/generate", """{"domain":"example.com"}""")).AssertStatus(HttpStatusCode.Created);
        var r = await s.Get($"/api/v1/domains/{id}/dns?format=zone");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("text/plain; charset=utf-8", r.ContentHeaders.ContentType!.ToString());
        Assert.Contains("$ORIGIN example.com.\n$TTL 3600\n", r.Body, StringComparison.Ordinal);
        Assert.Contains("default._domainkey.example.com. 3600 IN TXT \"v=DKIM1; h=sha256; k=rsa; p=", r.Body, StringComparison.Ordinal);
        if (MailPanel.Sys.Run.Which("named-checkzone") is null)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "named-checkzone is not installed (.ci/run installs bind9-utils)");
            return;
        }
        var zone = Path.Combine(s.Dir, "example.com.zone");
        await File.WriteAllTextAsync(zone, "@ 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 604800 300\n@ 3600 IN NS ns1.example.com.\n"
            + "ns1 3600 IN A 203.0.113.53\n" + r.Body);
        var check = await MailPanel.Sys.Run.Exec("named-checkzone", ["example.com", zone]);
        Assert.True(check.Ok, check.Describe("named-checkzone") + "\n" + r.Body);
        Assert.Contains("OK", check.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadIdFormatOrUnknownDomainAnswerTheFlatError()
    {
        await using var s = await TestServer.Start();
        var id = await s.CreateDomain("example.com");
        (await s.Get("/api/v1/domains/abc/dns")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Get($"/api/v1/domains/{id}/dns?format=bind")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Get("/api/v1/domains/999/dns")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
    }
}
