using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace MailPanel.Tests;

/// <summary>
/// A real MailPanel server on a loopback port, in its own temp directory named after the test,
/// driven through a real HttpClient. Rate limits are raised unless a test sets them.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string AdminPassword = "admin-pass-123";
    static readonly string AdminHash = Passwords.Hash(AdminPassword);

    readonly WebApplication app;

    public string Dir { get; }
    public string ApiKey { get; }
    public Uri BaseUri { get; }
    public HttpClient Http { get; }
    internal AppConfig Config { get; }
    internal IServiceProvider Services => app.Services;

    TestServer(string dir, WebApplication app, AppConfig config, Uri baseUri)
    {
        Dir = dir;
        this.app = app;
        Config = config;
        ApiKey = config.ApiKey;
        BaseUri = baseUri;
        Http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
        Http.DefaultRequestHeaders.Add("X-API-Key", ApiKey);
    }

    /// <summary>Starts a server; <paramref name="extra"/> lines are appended to (and may override) config.env.</summary>
    public static async Task<TestServer> Start([CallerMemberName] string test = "", string extra = "")
    {
        var dir = Path.Combine(Path.GetTempPath(), "mailpanel-tests", $"{test}-{Guid.NewGuid():N}"[..Math.Min(test.Length + 9, 80)]);
        Directory.CreateDirectory(dir);
        var lines = new Dictionary<string, string>
        {
            ["LISTEN"] = "127.0.0.1:0",
            ["API_KEY"] = "test-key-" + Guid.NewGuid().ToString("N"),
            ["ADMIN_USER"] = "admin",
            ["ADMIN_PASSWORD_HASH"] = AdminHash,
            ["JWT_SECRET"] = "test-jwt-secret-that-is-at-least-32-bytes-long",
            ["DATA_DIR"] = Path.Combine(dir, "data"),
            ["VMAIL_DIR"] = Path.Combine(dir, "vmail"),
            // Short: Postfix and Dovecot sockets live under SYSROOT and sun_path holds 108 bytes.
            ["SYSROOT"] = Path.Combine(Path.GetTempPath(), "mp", Guid.NewGuid().ToString("N")[..12]),
            ["RATE_LIMIT_LOGIN_PER_MIN"] = "1000",
            ["RATE_LIMIT_API_PER_MIN"] = "1000000",
        };
        foreach (var line in extra.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            lines[line[..eq]] = line[(eq + 1)..];
        }
        var text = string.Join('\n', lines.Select(kv => $"{kv.Key}={kv.Value}"));
        await File.WriteAllTextAsync(Path.Combine(dir, "config.env"), text);
        var config = AppConfig.Parse(text);
        var app = Program.Build(config);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestServer(dir, app, config, new Uri(address));
    }

    public T Get<T>() where T : notnull => app.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        foreach (var path in new[] { Dir, Config.SysRoot })
        {
            try { Directory.Delete(path, recursive: true); }
            catch (IOException) { }
        }
    }

    public Task<Response> Call(HttpMethod method, string path, string? json = null, Action<HttpRequestMessage>? configure = null) =>
        Send(Http, method, path, json, configure);

    public Task<Response> Get(string path) => Call(HttpMethod.Get, path);
    public Task<Response> Post(string path, string? json = null) => Call(HttpMethod.Post, path, json);
    public Task<Response> Put(string path, string json) => Call(HttpMethod.Put, path, json);
    public Task<Response> Patch(string path, string json) => Call(HttpMethod.Patch, path, json);
    public Task<Response> Delete(string path) => Call(HttpMethod.Delete, path);

    /// <summary>A client with no credentials, optionally bound to another loopback source address.</summary>
    public HttpClient Anonymous(IPAddress? source = null)
    {
        var handler = new SocketsHttpHandler();
        if (source is not null)
        {
            handler.ConnectCallback = async (ctx, cancel) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(ctx.DnsEndPoint.Host, ctx.DnsEndPoint.Port, cancel);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            };
        }
        return new HttpClient(handler) { BaseAddress = BaseUri };
    }

    public static async Task<Response> Send(HttpClient client, HttpMethod method, string path, string? json = null, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        configure?.Invoke(request);
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return new Response(response.StatusCode, body, response.Headers, response.Content.Headers);
    }

    /// <summary>Creates a domain and returns its id.</summary>
    public async Task<long> CreateDomain(string name, string? outgoingIp = null)
    {
        var body = outgoingIp is null ? $$"""{"name":"{{name}}"}""" : $$"""{"name":"{{name}}","outgoing_ip":"{{outgoingIp}}"}""";
        var r = await Post("/api/v1/domains", body);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<long>();
    }

    /// <summary>Creates a mailbox and returns its id.</summary>
    public async Task<long> CreateMailbox(long domainId, string username, string password = "S3cret-pass", long? quota = null)
    {
        var quotaPart = quota is null ? "" : $",\"quota\":{quota}";
        var r = await Post("/api/v1/mailboxes", $$"""{"domain_id":{{domainId}},"username":"{{username}}","password":"{{password}}"{{quotaPart}}}""");
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<long>();
    }
}

public sealed record Response(HttpStatusCode Status, string Body, HttpResponseHeaders Headers, HttpContentHeaders ContentHeaders)
{
    public JsonNode Json => JsonNode.Parse(Body) ?? throw new InvalidOperationException("empty body");

    public int Code => (int)Status;

    /// <summary>Asserts the flat error shape with the given status and code.</summary>
    public void AssertError(HttpStatusCode status, string code)
    {
        Assert.True(Status == status, $"expected {(int)status} {code}, got {this}");
        var obj = Json.AsObject();
        Assert.Equal(["code", "detail", "error"], obj.Select(p => p.Key).Order());
        Assert.Equal(code, obj["code"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(obj["error"]!.GetValue<string>()));
    }

    public void AssertStatus(HttpStatusCode status) => Assert.True(Status == status, $"expected {(int)status}, got {this}");

    public override string ToString() => $"{(int)Status} {Body}";
}
