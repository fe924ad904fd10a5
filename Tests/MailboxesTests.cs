using System.Net;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

public class MailboxesTests
{
    static long Total(Response r) => r.Json["meta"]!["total"]!.GetValue<long>();

    static string? StoredHash(TestServer s, long id)
    {
        using var c = s.Get<Db>().Open();
        return c.Command("SELECT password_hash FROM mailboxes WHERE id = $id", ("$id", id)).ExecuteScalar() as string;
    }

    static string Home(TestServer s, string domain, string username) => Path.Combine(s.Config.VmailDir, domain, username);

    [Fact]
    public async Task CreatingAMailboxReturnsItListsItAndGetsIt()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var created = await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"Alice","password":"S3cret-pass","quota":1073741824}""");
        created.AssertStatus(HttpStatusCode.Created);
        var m = created.Json;
        Assert.Equal(["active", "created_at", "domain_id", "id", "quota", "username"], m.AsObject().Select(p => p.Key).Order());
        Assert.Equal(domainId, m["domain_id"]!.GetValue<long>());
        Assert.Equal("alice", m["username"]!.GetValue<string>());
        Assert.Equal(1073741824, m["quota"]!.GetValue<long>());
        Assert.True(m["active"]!.GetValue<bool>());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", m["created_at"]!.GetValue<string>());
        Assert.Equal($"/api/v1/mailboxes/{m["id"]}", created.Headers.Location?.OriginalString);

        var list = await s.Get("/api/v1/mailboxes");
        list.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(1, Total(list));
        Assert.Equal(m.ToJsonString(), list.Json["data"]![0]!.ToJsonString());

        var one = await s.Get($"/api/v1/mailboxes/{m["id"]}");
        one.AssertStatus(HttpStatusCode.OK);
        Assert.Equal(m.ToJsonString(), one.Json.ToJsonString());
    }

    [Fact]
    public async Task UsernameWithTheMatchingDomainSuffixIsAcceptedAsTheLocalPart()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var r = await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"bob@Example.com","password":"pw"}""");
        r.AssertStatus(HttpStatusCode.Created);
        Assert.Equal("bob", r.Json["username"]!.GetValue<string>());
        Assert.Equal(0, r.Json["quota"]!.GetValue<long>());
    }

    [Fact]
    public async Task UsernameWithAnotherDomainSuffixIsRejected()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        await s.CreateDomain("other.com");
        var r = await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"bob@other.com","password":"pw"}""");
        r.AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal($"username domain \"other.com\" does not match domain_id ({domainId}: example.com)", r.Json["error"]!.GetValue<string>());
        Assert.Equal(0, Total(await s.Get("/api/v1/mailboxes")));
    }

    [Theory]
    [InlineData("""{"username":"a","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a"}""")]
    [InlineData("""{"domain_id":DOM,"username":"","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":""}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"0123456789012345678901234567890123456789012345678901234567890123456789012"}""")]
    [InlineData("""{"domain_id":DOM,"username":"@example.com","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a@b@example.com","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a/b","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"../etc","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"..","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a..b","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a\\b","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a\u0000b","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":".alice","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"al ice","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"al\"ice","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","quota":-1}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","quota":1125899906842625}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","quota":99999999999999999999}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","quota":1.5}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","quota":"10"}""")]
    [InlineData("""{"domain_id":"DOM","username":"a","password":"pw"}""")]
    [InlineData("""{"domain_id":0,"username":"a","password":"pw"}""")]
    [InlineData("""{"domain_id":-1,"username":"a","password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":7,"password":"pw"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","active":true}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw","username":"b"}""")]
    [InlineData("""{"domain_id":DOM,"username":"a","password":"pw" """)]
    [InlineData("""[]""")]
    public async Task InvalidMailboxIsRejectedAndNothingIsWritten(string body)
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        (await s.Post("/api/v1/mailboxes", body.Replace("DOM", domainId.ToString(), StringComparison.Ordinal)))
            .AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.Equal(0, Total(await s.Get("/api/v1/mailboxes")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(s.Config.VmailDir, "example.com")));
    }

    [Fact]
    public async Task UnknownDomainIsNotFound()
    {
        await using var s = await TestServer.Start();
        var r = await s.Post("/api/v1/mailboxes", """{"domain_id":42,"username":"alice","password":"pw"}""");
        r.AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        Assert.Equal("domain not found", r.Json["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task DuplicateMailboxIsAConflictAndTheSameNameInAnotherDomainIsNot()
    {
        await using var s = await TestServer.Start();
        var a = await s.CreateDomain("example.com");
        var b = await s.CreateDomain("example.org");
        await s.CreateMailbox(a, "alice");
        (await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{a}},"username":"ALICE@example.com","password":"pw"}"""))
            .AssertError(HttpStatusCode.Conflict, "CONFLICT");
        await s.CreateMailbox(b, "alice");
        Assert.Equal(2, Total(await s.Get("/api/v1/mailboxes")));
    }

    [Fact]
    public async Task CreatingAMailboxMakesItsMaildirTree()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        await s.CreateMailbox(domainId, "alice");
        var maildir = Path.Combine(Home(s, "example.com", "alice"), "Maildir");
        foreach (var sub in new[] { "cur", "new", "tmp" })
            Assert.True(Directory.Exists(Path.Combine(maildir, sub)), sub);
        foreach (var folder in new[] { ".Sent", ".Drafts", ".Trash", ".Junk" })
        {
            foreach (var sub in new[] { "cur", "new", "tmp" })
                Assert.True(Directory.Exists(Path.Combine(maildir, folder, sub)), $"{folder}/{sub}");
            Assert.True(File.Exists(Path.Combine(maildir, folder, "maildirfolder")), folder);
        }
    }

    [Fact]
    public async Task MaildirFailureRollsBackTheMailboxRow()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var blocker = Home(s, "example.com", "alice");
        await File.WriteAllTextAsync(blocker, "a file where the directory should go");
        var r = await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"alice","password":"pw"}""");
        r.AssertError(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.Equal("maildir creation failed", r.Json["error"]!.GetValue<string>());
        Assert.Equal(0, Total(await s.Get("/api/v1/mailboxes")));
        Assert.True(File.Exists(blocker)); // not ours to remove

        // Once the obstacle is gone the same name can be created.
        File.Delete(blocker);
        await s.CreateMailbox(domainId, "alice");
    }

    [Fact]
    public async Task PasswordIsStoredAsBlfCryptAndNeverReturned()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var created = await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"alice","password":"S3cret-pass"}""");
        var id = created.Json["id"]!.GetValue<long>();
        var hash = StoredHash(s, id)!;
        Assert.StartsWith("{BLF-CRYPT}$2b$10$", hash, StringComparison.Ordinal);
        Assert.True(Passwords.Verify("S3cret-pass", hash));
        Assert.False(Passwords.Verify("wrong", hash));

        var bodies = new[]
        {
            created.Body,
            (await s.Get("/api/v1/mailboxes")).Body,
            (await s.Get($"/api/v1/mailboxes/{id}")).Body,
            (await s.Patch($"/api/v1/mailboxes/{id}", """{"quota":5}""")).Body,
            (await s.Patch($"/api/v1/mailboxes/{id}/password", """{"password":"n3w-pass"}""")).Body,
        };
        foreach (var body in bodies)
        {
            Assert.DoesNotContain("password\"", body, StringComparison.Ordinal);
            Assert.DoesNotContain("BLF-CRYPT", body, StringComparison.Ordinal);
            Assert.DoesNotContain("$2b$", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ChangingThePasswordReplacesTheHash()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var id = await s.CreateMailbox(domainId, "alice", "old-pass");
        var r = await s.Patch($"/api/v1/mailboxes/{id}/password", """{"password":"new-strong-password"}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"password updated"}""", r.Body);
        var hash = StoredHash(s, id)!;
        Assert.True(Passwords.Verify("new-strong-password", hash));
        Assert.False(Passwords.Verify("old-pass", hash));
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"password":""}""")]
    [InlineData("""{"password":null}""")]
    [InlineData("""{"password":12345}""")]
    [InlineData("""{"password":"a\u0000b"}""")]
    [InlineData("""{"password":"ééééééééééééééééééééééééééééééééééééé"}""")]
    [InlineData("""{"password":"pw","old_password":"x"}""")]
    public async Task InvalidNewPasswordIsRejectedAndTheOldOneStays(string body)
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var id = await s.CreateMailbox(domainId, "alice", "old-pass");
        (await s.Patch($"/api/v1/mailboxes/{id}/password", body)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        Assert.True(Passwords.Verify("old-pass", StoredHash(s, id)!));
    }

    [Fact]
    public async Task PasswordChangeOfAMissingMailboxIsNotFoundAndBadIdIs400()
    {
        await using var s = await TestServer.Start();
        (await s.Patch("/api/v1/mailboxes/99/password", """{"password":"pw"}""")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Patch("/api/v1/mailboxes/abc/password", """{"password":"pw"}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task PatchChangesQuotaAndActive()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var id = await s.CreateMailbox(domainId, "alice", quota: 100);
        var r = await s.Patch($"/api/v1/mailboxes/{id}", """{"active":false}""");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.False(r.Json["active"]!.GetValue<bool>());
        Assert.Equal(100, r.Json["quota"]!.GetValue<long>());
        r = await s.Patch($"/api/v1/mailboxes/{id}", """{"quota":0}""");
        Assert.Equal(0, r.Json["quota"]!.GetValue<long>());
        Assert.False(r.Json["active"]!.GetValue<bool>());
        Assert.Equal(r.Json.ToJsonString(), (await s.Get($"/api/v1/mailboxes/{id}")).Json.ToJsonString());

        (await s.Patch("/api/v1/mailboxes/999", """{"active":true}""")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Patch("/api/v1/mailboxes/x", """{"active":true}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        foreach (var bad in new[] { """{"quota":-1}""", """{"quota":1125899906842625}""", """{"active":"yes"}""", """{"username":"bob"}""", """{"password":"pw"}""" })
            (await s.Patch($"/api/v1/mailboxes/{id}", bad)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        var after = (await s.Get($"/api/v1/mailboxes/{id}")).Json;
        Assert.Equal(0, after["quota"]!.GetValue<long>());
        Assert.Equal("alice", after["username"]!.GetValue<string>());
    }

    [Fact]
    public async Task DeletingAMailboxRemovesTheRowAndItsMaildir()
    {
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var id = await s.CreateMailbox(domainId, "alice");
        var keep = await s.CreateMailbox(domainId, "bob");
        var r = await s.Delete($"/api/v1/mailboxes/{id}");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"message":"mailbox deleted"}""", r.Body);
        Assert.False(Directory.Exists(Home(s, "example.com", "alice")));
        Assert.True(Directory.Exists(Home(s, "example.com", "bob")));
        (await s.Get($"/api/v1/mailboxes/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        (await s.Delete($"/api/v1/mailboxes/{id}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        Assert.Equal(keep, (await s.Get("/api/v1/mailboxes")).Json["data"]![0]!["id"]!.GetValue<long>());
        Assert.Empty(Directory.GetDirectories(s.Config.VmailDir, ".deleted-*")); // moved aside, then removed
    }

    [Fact]
    public async Task ADeleteRacingARecreateOfTheSameAddressNeverLeavesALiveMailboxWithoutItsTree()
    {
        // Tree steps run after the commit, in commit order (Rules/MailTrees.cs): a delete that
        // committed first cannot move aside the fresh tree of a re-create that committed after it.
        await using var s = await TestServer.Start();
        var domainId = await s.CreateDomain("example.com");
        var id = await s.CreateMailbox(domainId, "alice");
        for (var round = 0; round < 10; round++)
        {
            var delete = s.Delete($"/api/v1/mailboxes/{id}");
            var create = s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"alice","password":"pw-{{round}}"}""");
            await Task.WhenAll(delete, create);
            var list = await s.Get($"/api/v1/mailboxes?domain_id={domainId}");
            var live = list.Json["data"]!.AsArray();
            if (live.Count == 0) { id = await s.CreateMailbox(domainId, "alice"); continue; }
            id = live[0]!["id"]!.GetValue<long>();
            Assert.True(Directory.Exists(Path.Combine(Home(s, "example.com", "alice"), "Maildir", "cur")), $"round {round}: alice is live without her tree");
        }
    }

    [Fact]
    public async Task TreesLeftDetachedByACrashAreRemovedByTheStartUpSweep()
    {
        // Program.cs runs RemoveLeftovers at start-up, after EnsureRoot.
        await using var first = await TestServer.Start();
        var vmail = first.Config.VmailDir;
        var left = Path.Combine(vmail, ".deleted-0123456789abcdef");
        Directory.CreateDirectory(Path.Combine(left, "Maildir", "new"));
        new Maildirs(vmail).RemoveLeftovers();
        Assert.False(Directory.Exists(left));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("99999999999999999999")]
    public async Task NonPositiveOrOverflowingIdsAreRejected(string id)
    {
        await using var s = await TestServer.Start();
        (await s.Get($"/api/v1/mailboxes/{id}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Patch($"/api/v1/mailboxes/{id}", """{"active":true}""")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
        (await s.Delete($"/api/v1/mailboxes/{id}")).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task ListFiltersByDomainIdAndPages()
    {
        await using var s = await TestServer.Start();
        var a = await s.CreateDomain("example.com");
        var b = await s.CreateDomain("example.org");
        await s.CreateMailbox(a, "a1");
        await s.CreateMailbox(b, "b1");
        await s.CreateMailbox(a, "a2");
        var onlyA = await s.Get($"/api/v1/mailboxes?domain_id={a}");
        Assert.Equal(2, Total(onlyA));
        Assert.Equal(["a1", "a2"], onlyA.Json["data"]!.AsArray().Select(m => m!["username"]!.GetValue<string>()));
        var page2 = await s.Get($"/api/v1/mailboxes?domain_id={a}&limit=1&page=2");
        Assert.Equal("a2", page2.Json["data"]![0]!["username"]!.GetValue<string>());
        Assert.Equal(2, Total(page2));
        Assert.Equal(0, Total(await s.Get("/api/v1/mailboxes?domain_id=999")));
        Assert.Equal(3, Total(await s.Get("/api/v1/mailboxes")));
        foreach (var q in new[] { "domain_id=", "domain_id=x", "domain_id=0", "domain_id=-1", "domain_id=1&domain_id=2", "domain_id=99999999999999999999", "limit=0" })
            (await s.Get("/api/v1/mailboxes?" + q)).AssertError(HttpStatusCode.BadRequest, "VALIDATION_FAILED");
    }

    [Fact]
    public async Task MaxMailboxesOfTheDomainIsEnforced()
    {
        await using var s = await TestServer.Start();
        var a = await s.CreateDomain("example.com");
        var b = await s.CreateDomain("example.org");
        var db = s.Get<Db>();
        using (var write = await db.BeginWrite())
        {
            write.Command("INSERT INTO domain_overrides(domain_id, max_mailboxes) VALUES($a, 2)", ("$a", a)).ExecuteNonQuery();
            write.Command("UPDATE domain_defaults SET max_mailboxes = 1").ExecuteNonQuery();
            write.Commit();
        }
        await s.CreateMailbox(a, "one");
        await s.CreateMailbox(a, "two");
        var r = await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{a}},"username":"three","password":"pw"}""");
        r.AssertError(HttpStatusCode.Conflict, "CONFLICT");
        Assert.Equal("domain example.com has reached max_mailboxes (2)", r.Json["error"]!.GetValue<string>());
        Assert.False(Directory.Exists(Home(s, "example.com", "three")));

        // example.org has no override: the domain_defaults value (1) applies.
        await s.CreateMailbox(b, "one");
        (await s.Post("/api/v1/mailboxes", $$"""{"domain_id":{{b}},"username":"two","password":"pw"}""")).AssertError(HttpStatusCode.Conflict, "CONFLICT");
        Assert.Equal(3, Total(await s.Get("/api/v1/mailboxes")));
    }

    [Fact]
    public async Task MailboxMutationsRequestAReconcile()
    {
        await using var s = await TestServer.Start();
        var reconciler = s.Get<Reconciler>();
        var domainId = await s.CreateDomain("example.com");
        await WaitForApplies(reconciler, 1); // the domain's own reconcile has started

        async Task Expect(Func<Task> mutation)
        {
            var before = reconciler.Applies;
            await mutation();
            await WaitForApplies(reconciler, before + 1);
        }

        long id = 0;
        await Expect(async () => id = await s.CreateMailbox(domainId, "alice"));
        await Expect(async () => (await s.Patch($"/api/v1/mailboxes/{id}", """{"active":false}""")).AssertStatus(HttpStatusCode.OK));
        await Expect(async () => (await s.Patch($"/api/v1/mailboxes/{id}/password", """{"password":"x"}""")).AssertStatus(HttpStatusCode.OK));
        await Expect(async () => (await s.Delete($"/api/v1/mailboxes/{id}")).AssertStatus(HttpStatusCode.OK));
    }

    internal static async Task WaitForApplies(Reconciler reconciler, long atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60); // a poll, not a timing assertion
        while (reconciler.Applies < atLeast)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no reconcile: {reconciler.Applies} applies, expected {atLeast}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task DeletingDomainRemovesItsMailboxesAndAliases()
    {
        await using var s = await TestServer.Start();
        var gone = await s.CreateDomain("example.com");
        var kept = await s.CreateDomain("example.org");
        var mailbox = await s.CreateMailbox(gone, "alice");
        var keptMailbox = await s.CreateMailbox(kept, "alice");
        (await s.Post("/api/v1/aliases", """{"source":"info@example.com","destination":"alice@example.com"}""")).AssertStatus(HttpStatusCode.Created);
        (await s.Post("/api/v1/aliases", """{"source":"info@example.org","destination":"alice@example.org"}""")).AssertStatus(HttpStatusCode.Created);
        Assert.True(Directory.Exists(Home(s, "example.com", "alice")));

        (await s.Delete($"/api/v1/domains/{gone}")).AssertStatus(HttpStatusCode.OK);

        (await s.Get($"/api/v1/mailboxes/{mailbox}")).AssertError(HttpStatusCode.NotFound, "NOT_FOUND");
        var mailboxes = await s.Get("/api/v1/mailboxes");
        Assert.Equal(1, Total(mailboxes));
        Assert.Equal(keptMailbox, mailboxes.Json["data"]![0]!["id"]!.GetValue<long>());
        var aliases = await s.Get("/api/v1/aliases");
        Assert.Equal(1, Total(aliases));
        Assert.Equal("info@example.org", aliases.Json["data"]![0]!["source"]!.GetValue<string>());
        Assert.False(Directory.Exists(Home(s, "example.com", "alice")));
        Assert.True(Directory.Exists(Home(s, "example.org", "alice")));
    }

    [Fact]
    public async Task SixteenParallelClientsCreateMailboxesWithoutBusyErrors()
    {
        await using var s = await TestServer.Start();
        const int Clients = 16, PerClient = 25;
        var domains = new long[8];
        for (var i = 0; i < domains.Length; i++) domains[i] = await s.CreateDomain($"d{i}.example");

        var results = await Task.WhenAll(Enumerable.Range(0, Clients).Select(async client =>
        {
            using var http = s.Anonymous();
            http.DefaultRequestHeaders.Add("X-API-Key", s.ApiKey);
            var statuses = new List<Response>();
            for (var n = 0; n < PerClient; n++)
            {
                var domainId = domains[(client * PerClient + n) % domains.Length];
                var body = new JsonObject { ["domain_id"] = domainId, ["username"] = $"c{client}n{n}", ["password"] = "pw" }.ToJsonString();
                statuses.Add(await TestServer.Send(http, HttpMethod.Post, "/api/v1/mailboxes", body));
            }
            return statuses;
        }));

        var all = results.SelectMany(r => r).ToList();
        Assert.All(all, r => r.AssertStatus(HttpStatusCode.Created));
        Assert.Equal(Clients * PerClient, Total(await s.Get("/api/v1/mailboxes")));
        Assert.Equal(Clients * PerClient, all.Select(r => r.Json["id"]!.GetValue<long>()).Distinct().Count());
    }
}

public class ReconcileCoalescingTests
{
    /// <summary>Issue 3: a burst of mutations is applied by one worker in a handful of passes, not one per write.</summary>
    [Fact]
    public async Task AThousandCreatesInARowCauseAHandfulOfApplies()
    {
        await using var s = await TestServer.Start();
        var domain = await s.CreateDomain("burst.example");
        await s.CreateMailbox(domain, "target");
        var reconciler = s.Get<Reconciler>();
        await ConfigTests.WaitForIdle(reconciler);
        var before = reconciler.Applies;
        var overrides = await s.Put($"/api/v1/domains/{domain}/overrides", """{"max_aliases":2000}""");
        overrides.AssertStatus(System.Net.HttpStatusCode.OK);
        for (var i = 0; i < 1000; i++)
            (await s.Post("/api/v1/aliases", $$"""{"source":"a{{i}}@burst.example","destination":"target@burst.example"}"""))
                .AssertStatus(System.Net.HttpStatusCode.Created);
        // Applies counts at the start of an apply: wait until the burst's own apply has begun, then for quiet.
        await JsonAssert.Eventually(() => reconciler.Applies > before, "a reconcile after the burst");
        await ConfigTests.WaitForIdle(reconciler);
        var applies = reconciler.Applies - before;
        Assert.InRange(applies, 1, 100);
    }
}
