using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// Issue 3, scenario 7 (second half): kill -9 of the daemon during a reconcile leaves every managed
/// file either old or new, and the next reconcile converges. Drives the published native binary.
/// </summary>
public class CrashSafetyTests
{
    sealed class Daemon(Process process, HttpClient http) : IAsyncDisposable
    {
        public Process Process => process;
        public HttpClient Http => http;

        public async ValueTask DisposeAsync()
        {
            if (!process.HasExited) process.Kill();
            await process.WaitForExitAsync();
            http.Dispose();
            process.Dispose();
        }
    }

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    static async Task<Daemon> Start(string binary, string config, int port, string? crashAt = null)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = false, RedirectStandardError = false };
        if (crashAt is not null) psi.Environment["MAILPANEL_TEST_CRASH_AT"] = crashAt;
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        var process = Process.Start(psi)!;
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Add("X-API-Key", "crash-test-key");
        for (var i = 0; i < 400; i++)
        {
            try
            {
                await http.GetAsync("/health");
                return new Daemon(process, http);
            }
            catch (HttpRequestException)
            {
                Assert.False(process.HasExited, "daemon exited at start");
                await Task.Delay(50);
            }
        }
        throw new TimeoutException("daemon did not answer /health");
    }

    /// <summary>Every managed file under SYSROOT/etc, by path (temp files of an interrupted write excluded).</summary>
    static Dictionary<string, byte[]> Files(string sysroot)
    {
        var map = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var dir in new[] { "etc/postfix", "etc/dovecot" })
        {
            var full = Path.Combine(sysroot, dir);
            if (!Directory.Exists(full)) continue;
            foreach (var f in Directory.GetFiles(full))
            {
                var name = Path.GetFileName(f);
                if (name.StartsWith('.') || name.EndsWith(".lmdb", StringComparison.Ordinal) || name.EndsWith("-lock", StringComparison.Ordinal)) continue;
                map[f] = File.ReadAllBytes(f);
            }
        }
        return map;
    }

    static async Task<JsonNode> Reconcile(Daemon d)
    {
        var r = await d.Http.PostAsync("/api/v1/system/reconcile", null);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!;
    }

    /// <summary>The keys in each map's lmdb table are exactly the keys of its source file.</summary>
    static async Task AssertTablesMatchSources(string sysroot, string when)
    {
        foreach (var map in new[] { "vmailbox", "vdomains", "valias" })
        {
            var source = Path.Combine(sysroot, "etc/postfix", map);
            var dump = await MailPanel.Sys.Run.Exec("postmap", ["-c", Path.Combine(sysroot, "etc/postfix"), "-s", "lmdb:" + source], TimeSpan.FromSeconds(60));
            Assert.True(dump.Ok, dump.Describe("postmap -s"));
            var keys = (await File.ReadAllLinesAsync(source)).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split([' ', '\t'], 2)[0]).Order(StringComparer.Ordinal).ToList();
            var tableKeys = dump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split([' ', '\t'], 2)[0]).Order(StringComparer.Ordinal).ToList();
            Assert.True(keys.SequenceEqual(tableKeys), $"{map}: table and source disagree {when} ({tableKeys.Count} table keys, {keys.Count} source keys)");
        }
    }

    /// <summary>The crash points Sys/MailStack offers (MAILPANEL_TEST_CRASH_AT), in apply order.</summary>
    static readonly string[] Points = ["rendered", "configs", "users", "map-dirty", "map-table", "maps"];

    static JsonObject Data(JsonObject template, string hash, int domainCount, Func<int, int, bool> hasMailbox, long messageSizeLimit)
    {
        var doc = template.DeepClone().AsObject();
        var domains = new JsonArray();
        var mailboxes = new JsonArray();
        var aliases = new JsonArray();
        var id = 0;
        for (var i = 0; i < domainCount; i++)
        {
            domains.Add(new JsonObject { ["id"] = i + 1, ["name"] = $"d{i}.example", ["active"] = true, ["outgoing_ip"] = "", ["created_at"] = "2026-05-02T03:11:42Z" });
            aliases.Add(new JsonObject { ["id"] = i + 1, ["domain_id"] = i + 1, ["source"] = $"info@d{i}.example", ["destination"] = $"u0@d{i}.example", ["created_at"] = "2026-05-02T03:11:42Z" });
            for (var j = 0; j < 10; j++)
                if (hasMailbox(i, j))
                    mailboxes.Add(new JsonObject { ["id"] = ++id, ["domain_id"] = i + 1, ["username"] = $"u{j}", ["password_hash"] = hash, ["quota"] = 0, ["active"] = true, ["created_at"] = "2026-05-02T03:11:42Z" });
        }
        doc["domains"] = domains;
        doc["mailboxes"] = mailboxes;
        doc["aliases"] = aliases;
        doc["domain_overrides"] = new JsonArray();
        doc["mailbox_overrides"] = new JsonArray();
        doc["global_config"]!["message_size_limit"] = messageSizeLimit;
        return doc;
    }

    [MailStackFact]
    public async Task KillNineAtEveryStepOfAnApplyLeavesEachFileOldOrNewAndTheNextReconcileConverges()
    {
        var binary = await NativeBinaryTests.PublishedBinary();
        var dir = Directory.CreateTempSubdirectory("mailpanel-crash-").FullName;
        var sysroot = Path.Combine(dir, "root");
        var port = FreePort();
        var config = Path.Combine(dir, "config.env");
        await File.WriteAllTextAsync(config, $"""
            LISTEN=127.0.0.1:{port}
            API_KEY=crash-test-key
            ADMIN_PASSWORD_HASH={Passwords.Hash("pw")}
            JWT_SECRET=crash-test-secret-0123456789abcdef0123
            DATA_DIR={dir}/data
            VMAIL_DIR={dir}/vmail
            SYSROOT={sysroot}
            RATE_LIMIT_API_PER_MIN=1000000
            MAIL_HOSTNAME=mail.crash.test
            SMTP_LISTEN=127.0.0.1:{FreePort()}
            SUBMISSION_LISTEN=127.0.0.1:{FreePort()}
            IMAP_LISTEN=127.0.0.1:{FreePort()}
            POP3_LISTEN=127.0.0.1:{FreePort()}
            """);
        try
        {
            var d = await Start(binary, config, port);
            (await d.Http.PostAsync("/api/v1/domains", new StringContent("""{"name":"a.example"}"""))).EnsureSuccessStatusCode();
            (await d.Http.PostAsync("/api/v1/mailboxes", new StringContent("""{"domain_id":1,"username":"alice","password":"S3cret-pass"}"""))).EnsureSuccessStatusCode();
            var template = JsonNode.Parse(await d.Http.GetStringAsync("/api/v1/backup"))!.AsObject();
            var hash = template["mailboxes"]![0]!["password_hash"]!.GetValue<string>();

            // Three transitions, which between them pass every crash point: a large change (tables
            // rebuilt whole, main.cf changed too), a small one with additions and removals (tables
            // changed in place, users dict before the maps), and removals only (users dict after).
            var small = Data(template, hash, 1, (_, j) => j == 0, 10240000);
            var big = Data(template, hash, 1000, (_, j) => j < 8, 20480000);
            var shuffled = Data(template, hash, 1000, (i, j) => i < 20 ? j is >= 2 and < 10 : j < 8, 20480000);
            var fewer = Data(template, hash, 1000, (i, j) => i < 20 ? j is >= 4 and < 10 : j < 8, 20480000);
            var transitions = new[] { ("large", small, big), ("in place", big, shuffled), ("removals only", shuffled, fewer) };

            async Task<Dictionary<string, byte[]>> Apply(JsonObject state)
            {
                (await d.Http.PostAsync("/api/v1/backup/restore", new StringContent(state.ToJsonString()))).EnsureSuccessStatusCode();
                await Reconcile(d);
                return Files(sysroot);
            }

            var reached = new HashSet<string>();
            foreach (var (name, from, to) in transitions)
            {
                var after = await Apply(to);
                foreach (var point in Points)
                {
                    var before = await Apply(from);
                    await d.DisposeAsync();

                    // The apply that follows this restore kills its own process at `point`.
                    d = await Start(binary, config, port, crashAt: point);
                    // Either the restore's background apply or this synchronous one reaches the point
                    // first; the request in flight then fails with the connection. A point this
                    // transition never reaches (no config change, say) lets the reconcile answer 200.
                    try
                    {
                        (await d.Http.PostAsync("/api/v1/backup/restore", new StringContent(to.ToJsonString()))).EnsureSuccessStatusCode();
                        (await d.Http.PostAsync("/api/v1/system/reconcile", null)).EnsureSuccessStatusCode();
                    }
                    catch (Exception e) when (e is HttpRequestException or System.Net.Sockets.SocketException or IOException)
                    {
                        // the connection died with the process (HttpClient sometimes surfaces the socket error bare)
                        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                        await d.Process.WaitForExitAsync(wait.Token);
                    }
                    var killed = d.Process.HasExited;
                    if (killed) reached.Add(point);
                    await d.DisposeAsync();

                    foreach (var (path, bytes) in Files(sysroot))
                    {
                        var isOld = before.TryGetValue(path, out var oldBytes) && oldBytes.AsSpan().SequenceEqual(bytes);
                        var isNew = after.TryGetValue(path, out var newBytes) && newBytes.AsSpan().SequenceEqual(bytes);
                        Assert.True(isOld || isNew, $"{name}, kill -9 at {point}: {path} is neither the old nor the new version");
                    }

                    d = await Start(binary, config, port);
                    await Reconcile(d);
                    Assert.Contains("no changes", (await Reconcile(d))["log"]!.ToJsonString(), StringComparison.Ordinal);
                    await AssertTablesMatchSources(sysroot, $"after {name}, kill -9 at {point} (killed: {killed})");
                    var now = Files(sysroot);
                    Assert.True(now.Count == after.Count && now.All(f => after.TryGetValue(f.Key, out var b) && b.AsSpan().SequenceEqual(f.Value)),
                        $"{name}, kill -9 at {point}: the next reconcile did not converge to the new files");
                }
            }
            await d.DisposeAsync();
            Assert.Equal(Points.Order(), reached.Order());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
