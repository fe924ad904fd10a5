using System.Net;

namespace MailPanel.Tests;

public class DomainsTests
{
    [Fact]
    public async Task CreatingADomainReturnsItAndListsIt()
    {
        await using var s = await TestServer.Start();
        var created = await s.Post("/api/v1/domains", """{"name":"Example.COM"}""");
        created.AssertStatus(HttpStatusCode.Created);
        var d = created.Json;
        Assert.Equal("example.com", d["name"]!.GetValue<string>());
        Assert.True(d["active"]!.GetValue<bool>());
        Assert.Equal("", d["outgoing_ip"]!.GetValue<string>());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", d["created_at"]!.GetValue<string>());
        Assert.Equal(["active", "created_at", "id", "name", "outgoing_ip"], d.AsObject().Select(p => p.Key).Order());
        Assert.True(Directory.Exists(Path.Combine(s.Config.VmailDir, "example.com")));

        var list = await s.Get("/api/v1/domains");
        list.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(1, list.Json["meta"]!["total"]!.GetValue<long>());
        Assert.Equal(1, list.Json["meta"]!["page"]!.GetValue<int>());
        Assert.Equal(50, list.Json["meta"]!["limit"]!.GetValue<int>());
        Assert.Equal("example.com", list.Json["data"]![0]!["name"]!.GetValue<string>());

        var one = await s.Get($"/api/v1/domains/{d["id"]}");
        Assert.Equal(d.ToJsonString(), one.Json.ToJsonString());
    }

    [Fact]
    public async Task DuplicateDomainIsAConflict()
    {
        await using var s = await TestServer.Start();
        await s.CreateDomain("example.com");
        (await s.Post("/api/v1/domains", """{"name":"example.com"}""")).AssertError(HttpStatusCode.Conflict, "CONFLICT");
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"name":""}""")]
    [InlineData("""{"name":"localhost"}""")]
    [InlineData("""{"name":"-bad.com"}""")]
    [InlineData("""{"name":"bad_name.com"}""")]
    [InlineData("""{"name":"a..com"}""")]
    [InlineData("""{"name":"../etc.com"}""")]
    [InlineData("""{"name":"example.com","outgoing_ip":"300.1.1.1"}""")]
    [InlineData("""{"name":"example.com","outgoing_ip":"example.org"}""")]
    public async Task InvalidDomainIsRejectedAndNothingIsWritten(string body)
    {
        await using var s = await TestServer.Start();
        (await s.Post("/api/v1/domains", body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(0, (await s.Get("/api/v1/domains")).Json["meta"]!["total"]!.GetValue<long>());
    }

    [Fact]
    public async Task AutoOutgoingIpPicksTheLeastUsedHostAddress()
    {
        await using var s = await TestServer.Start();
        var hostAddresses = HostInfo.OutboundAddresses();
        var r = await s.Post("/api/v1/domains", """{"name":"auto.example","outgoing_ip":"auto"}""");
        if (hostAddresses.Count == 0)
        {
            r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
            return;
        }
        r.AssertStatus(HttpStatusCode.Created);
        var first = r.Json["outgoing_ip"]!.GetValue<string>();
        Assert.Equal(hostAddresses[0], first);
        Assert.False(System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(first)));
        // A second auto domain goes to another address when the host has one, else shares the only one.
        var second = (await s.Post("/api/v1/domains", """{"name":"auto2.example","outgoing_ip":"auto"}""")).Json["outgoing_ip"]!.GetValue<string>();
        Assert.Equal(hostAddresses.Count > 1 ? hostAddresses[1] : first, second);
    }

    [Fact]
    public async Task PatchChangesActiveAndOutgoingIp()
    {
        await using var s = await TestServer.Start();
        var id = await s.CreateDomain("example.com", "203.0.113.10");
        var r = await s.Patch($"/api/v1/domains/{id}", """{"active":false}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.False(r.Json["active"]!.GetValue<bool>());
        Assert.Equal("203.0.113.10", r.Json["outgoing_ip"]!.GetValue<string>());
        r = await s.Patch($"/api/v1/domains/{id}", """{"outgoing_ip":""}""");
        Assert.Equal("", r.Json["outgoing_ip"]!.GetValue<string>());
        Assert.False(r.Json["active"]!.GetValue<bool>());
        (await s.Patch("/api/v1/domains/999", """{"active":true}""")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Patch($"/api/v1/domains/{id}", """{"name":"other.com"}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task DeletingADomainRemovesItsMaildirTree()
    {
        await using var s = await TestServer.Start();
        var id = await s.CreateDomain("example.com");
        var dir = Path.Combine(s.Config.VmailDir, "example.com");
        await File.WriteAllTextAsync(Path.Combine(dir, "marker"), "x");
        var r = await s.Delete($"/api/v1/domains/{id}");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("domain deleted", r.Json["message"]!.GetValue<string>());
        Assert.False(Directory.Exists(dir));
        (await s.Delete($"/api/v1/domains/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Delete("/api/v1/domains/abc")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Get($"/api/v1/domains/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
    }

    [Fact]
    public async Task MaildirFailureRollsBackTheDomainRow()
    {
        await using var s = await TestServer.Start();
        Directory.CreateDirectory(s.Config.VmailDir);
        await File.WriteAllTextAsync(Path.Combine(s.Config.VmailDir, "blocked.example"), "a file where the directory should go");
        (await s.Post("/api/v1/domains", """{"name":"blocked.example"}""")).AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Equal(0, (await s.Get("/api/v1/domains")).Json["meta"]!["total"]!.GetValue<long>());
    }

    [Fact]
    public async Task PagingSplitsTheListAndRejectsBadValues()
    {
        await using var s = await TestServer.Start();
        for (var i = 0; i < 5; i++) await s.CreateDomain($"d{i}.example");
        var page2 = await s.Get("/api/v1/domains?page=2&limit=2");
        Assert.Equal(2, page2.Json["data"]!.AsArray().Count);
        Assert.Equal("d2.example", page2.Json["data"]![0]!["name"]!.GetValue<string>());
        Assert.Equal(5, page2.Json["meta"]!["total"]!.GetValue<long>());
        Assert.Equal(2, page2.Json["meta"]!["page"]!.GetValue<int>());
        Assert.Empty((await s.Get("/api/v1/domains?page=9&limit=2")).Json["data"]!.AsArray());
        Assert.Equal(5, (await s.Get("/api/v1/domains?limit=500")).Json["data"]!.AsArray().Count);
        foreach (var q in new[] { "page=0", "page=-1", "page=x", "limit=0", "limit=501", "limit=1.5", "page=99999999999999999999" })
            (await s.Get("/api/v1/domains?" + q)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }
}
