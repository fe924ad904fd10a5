using System.Net;

namespace MailPanel.Tests;

public class AliasesTests
{
    static long Total(Response r) => r.Json["meta"]!["total"]!.GetValue<long>();

    [Fact]
    public async Task CreatingAnAliasReturnsItListsItAndGetsIt()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var created = await s.Post("/api/v1/aliases", """{"source":"Info@Example.COM","destination":"alice@example.com"}""");
        created.AssertStatus(HttpStatusCode.Created);
        var a = created.Json;
        Assert.Equal(["created_at", "destination", "domain_id", "id", "source"], a.AsObject().Select(p => p.Key).Order());
        Assert.Equal(domainId, a["domain_id"]!.GetValue<long>());
        Assert.Equal("info@example.com", a["source"]!.GetValue<string>());
        Assert.Equal("alice@example.com", a["destination"]!.GetValue<string>());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", a["created_at"]!.GetValue<string>());
        Assert.Equal($"/api/v1/aliases/{a["id"]}", created.Headers.Location?.OriginalString);

        var list = await s.Get("/api/v1/aliases");
        list.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(1, Total(list));
        Assert.Equal(a.ToJsonString(), list.Json["data"]![0]!.ToJsonString());
        Assert.Equal(a.ToJsonString(), (await s.Get($"/api/v1/aliases/{a["id"]}")).Json.ToJsonString());
    }

    [Fact]
    public async Task MultipleDestinationsAreNormalisedAndRemoteOnesAllowed()
    {
        await using var s = await TestServer.Start();
        await s.CreateDomain("example.com");
        var r = await s.Post("/api/v1/aliases", """{"source":"team@example.com","destination":" alice@example.com,Bob@Remote.EXAMPLE ,alice@example.com"}""");
        r.AssertStatus(HttpStatusCode.Created);
        Assert.Equal("alice@example.com, Bob@remote.example", r.Json["destination"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"source":"info","destination":"a@example.com"}""", "source must be of the form local@domain")]
    [InlineData("""{"source":"@example.com","destination":"a@example.com"}""", "source must be of the form local@domain")]
    [InlineData("""{"source":"info@","destination":"a@example.com"}""", "source must be of the form local@domain")]
    [InlineData("""{"source":"info@other.com","destination":"a@example.com"}""", "source domain other.com is not managed by this server")]
    [InlineData("""{"source":"info@Sub.Example.com","destination":"a@example.com"}""", "source domain sub.example.com is not managed by this server")]
    public async Task SourceErrorsNameTheProblem(string body, string error)
    {
        await using var s = await TestServer.Start();
        await s.CreateDomain("example.com");
        var r = await s.Post("/api/v1/aliases", body);
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(error, r.Json["error"]!.GetValue<string>());
        Assert.Equal(0, Total(await s.Get("/api/v1/aliases")));
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"destination":"a@example.com"}""")]
    [InlineData("""{"source":"info@example.com"}""")]
    [InlineData("""{"source":"","destination":"a@example.com"}""")]
    [InlineData("""{"source":"info@example.com","destination":""}""")]
    [InlineData("""{"source":"info@example.com","destination":"not-an-address"}""")]
    [InlineData("""{"source":"info@example.com","destination":"a@example.com,"}""")]
    [InlineData("""{"source":"info@example.com","destination":"a@example.com, b@"}""")]
    [InlineData("""{"source":"info@example.com","destination":"a b@example.com"}""")]
    [InlineData("""{"source":"in fo@example.com","destination":"a@example.com"}""")]
    [InlineData("""{"source":".info@example.com","destination":"a@example.com"}""")]
    [InlineData("""{"source":"a..b@example.com","destination":"a@example.com"}""")]
    [InlineData("""{"source":"a@b@example.com","destination":"a@example.com"}""")]
    [InlineData("""{"source":"info@example.com","destination":["a@example.com"]}""")]
    [InlineData("""{"source":7,"destination":"a@example.com"}""")]
    [InlineData("""{"source":"info@example.com","destination":"a@example.com","domain_id":1}""")]
    [InlineData("""{"source":"info@example.com","destination":"a@example.com","source":"x@example.com"}""")]
    [InlineData("""{"source":"info@example.com" """)]
    [InlineData("""null""")]
    public async Task InvalidAliasIsRejectedAndNothingIsWritten(string body)
    {
        await using var s = await TestServer.Start();
        await s.CreateDomain("example.com");
        (await s.Post("/api/v1/aliases", body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(0, Total(await s.Get("/api/v1/aliases")));
    }

    [Fact]
    public async Task DuplicateSourceIsAConflict()
    {
        await using var s = await TestServer.Start();
        await s.CreateDomain("example.com");
        (await s.Post("/api/v1/aliases", """{"source":"info@example.com","destination":"a@example.com"}""")).AssertStatus(HttpStatusCode.Created);
        (await s.Post("/api/v1/aliases", """{"source":"INFO@example.com","destination":"b@example.com"}""")).AssertError(HttpStatusCode.Conflict, "CONFLICT");
        Assert.Equal(1, Total(await s.Get("/api/v1/aliases")));
    }

    [Fact]
    public async Task DeletingAnAliasRemovesIt()
    {
        await using var s = await TestServer.Start();
        await s.CreateDomain("example.com");
        var id = (await s.Post("/api/v1/aliases", """{"source":"info@example.com","destination":"a@example.com"}""")).Json["id"]!.GetValue<long>();
        var r = await s.Delete($"/api/v1/aliases/{id}");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"alias deleted"}""", r.Body);
        (await s.Get($"/api/v1/aliases/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Delete($"/api/v1/aliases/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        Assert.Equal(0, Total(await s.Get("/api/v1/aliases")));
        // The source is free again.
        (await s.Post("/api/v1/aliases", """{"source":"info@example.com","destination":"b@example.com"}""")).AssertStatus(HttpStatusCode.Created);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("abc")]
    [InlineData("99999999999999999999")]
    public async Task NonPositiveOrOverflowingIdsAreRejected(string id)
    {
        await using var s = await TestServer.Start();
        (await s.Get($"/api/v1/aliases/{id}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Delete($"/api/v1/aliases/{id}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task ListFiltersByDomainIdAndPages()
    {
        await using var s = await TestServer.Start();
        var a = await s.CreateDomain("example.com");
        var b = await s.CreateDomain("example.org");
        foreach (var source in new[] { "x@example.com", "x@example.org", "y@example.com" })
            (await s.Post("/api/v1/aliases", $$"""{"source":"{{source}}","destination":"dest@remote.example"}""")).AssertStatus(HttpStatusCode.Created);
        var onlyA = await s.Get($"/api/v1/aliases?domain_id={a}");
        Assert.Equal(2, Total(onlyA));
        Assert.Equal(["x@example.com", "y@example.com"], onlyA.Json["data"]!.AsArray().Select(x => x!["source"]!.GetValue<string>()));
        Assert.All(onlyA.Json["data"]!.AsArray(), x => Assert.Equal(a, x!["domain_id"]!.GetValue<long>()));
        Assert.Equal(1, Total(await s.Get($"/api/v1/aliases?domain_id={b}")));
        Assert.Equal("y@example.com", (await s.Get($"/api/v1/aliases?domain_id={a}&page=2&limit=1")).Json["data"]![0]!["source"]!.GetValue<string>());
        Assert.Equal(0, Total(await s.Get("/api/v1/aliases?domain_id=999")));
        foreach (var q in new[] { "domain_id=", "domain_id=abc", "domain_id=0", "domain_id=1.0", "domain_id=1&domain_id=2", "page=0" })
            (await s.Get("/api/v1/aliases?" + q)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task MaxAliasesOfTheDomainIsEnforced()
    {
        await using var s = await TestServer.Start();
        var a = await s.CreateDomain("example.com");
        using (var write = await s.Get<Db>().BeginWrite())
        {
            write.Command("INSERT INTO domain_overrides(domain_id, max_aliases) VALUES($a, 1)", ("$a", a)).ExecuteNonQuery();
            write.Commit();
        }
        (await s.Post("/api/v1/aliases", """{"source":"one@example.com","destination":"a@example.com"}""")).AssertStatus(HttpStatusCode.Created);
        var r = await s.Post("/api/v1/aliases", """{"source":"two@example.com","destination":"a@example.com"}""");
        r.AssertError(HttpStatusCode.Conflict, "CONFLICT");
        Assert.Equal("domain example.com has reached max_aliases (1)", r.Json["error"]!.GetValue<string>());
        Assert.Equal(1, Total(await s.Get("/api/v1/aliases")));
    }

    [Fact]
    public async Task AliasMutationsRequestAReconcile()
    {
        await using var s = await TestServer.Start();
        var reconciler = s.Get<Reconciler>();
        await s.CreateDomain("example.com");
        await MailboxesTests.WaitForApplies(reconciler, 1);
        var before = reconciler.Applies;
        var id = (await s.Post("/api/v1/aliases", """{"source":"info@example.com","destination":"a@example.com"}""")).Json["id"]!.GetValue<long>();
        await MailboxesTests.WaitForApplies(reconciler, before + 1);
        before = reconciler.Applies;
        (await s.Delete($"/api/v1/aliases/{id}")).AssertStatus(HttpStatusCode.OK);
        await MailboxesTests.WaitForApplies(reconciler, before + 1);
    }
}
