using System.Net.Sockets;
using System.Security.Cryptography;
using MailPanel.Api;
using MailPanel.Core;
using MailPanel.Sys;

namespace MailPanel;

/// <summary>
/// Command line: `mailpanel [--config PATH]` runs the daemon; `mailpanel hash-password` hashes one
/// password from stdin; `mailpanel dev [DIR]` runs a local sandbox (SQLite under DIR, SYSROOT and
/// VMAIL_DIR under DIR) and prints its API key. Any start-up failure: one line on stderr, exit 1.
/// </summary>
internal static class Cli
{
    public static async Task<int> Run(string[] args)
    {
        try
        {
            return args switch
            {
                ["hash-password"] => HashPassword(),
                ["dev", .. var rest] when rest.Length <= 1 => await Daemon(Dev(rest.Length == 1 ? rest[0] : "sandbox")),
                ["--version"] => Version(),
                ["--config", var path] => await Daemon(path),
                ["--config", var path, "self-signed-cert"] => await SelfSignedCert(path),
                ["self-signed-cert"] => await SelfSignedCert(Environment.GetEnvironmentVariable("MAILPANEL_CONFIG") is { Length: > 0 } env ? env : AppConfig.DefaultPath),
                [] => await Daemon(Environment.GetEnvironmentVariable("MAILPANEL_CONFIG") is { Length: > 0 } env ? env : AppConfig.DefaultPath),
                _ => Usage(),
            };
        }
        catch (ConfigException e)
        {
            return Fail($"config: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException
                                      or Microsoft.Data.Sqlite.SqliteException)
        {
            return Fail(e.Message);
        }
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine($"mailpanel: {message.ReplaceLineEndings(" ")}");
        return 1;
    }

    static int Usage()
    {
        Console.Error.WriteLine("usage: mailpanel [--config PATH] | mailpanel [--config PATH] self-signed-cert | mailpanel hash-password | mailpanel dev [DIR] | mailpanel --version");
        return 2;
    }

    static int Version()
    {
        Console.WriteLine($"mailpanel {About.Version} (build {About.Build})");
        return 0;
    }

    static int HashPassword()
    {
        var password = Console.In.ReadToEnd();
        if (password.EndsWith('\n')) password = password[..^1];
        if (password.EndsWith('\r')) password = password[..^1];
        if (Passwords.Validate(password) is { } error) return Fail(error);
        Console.WriteLine(Passwords.Hash(password));
        return 0;
    }

    /// <summary>The installer's step: a self-signed certificate for MAIL_HOSTNAME unless one is registered (the daemon may be running).</summary>
    static async Task<int> SelfSignedCert(string configPath)
    {
        var config = AppConfig.Load(configPath);
        var db = new Store.Db(config.DatabasePath);
        Store.Schema.Migrate(db);
        Console.WriteLine(await Rules.TlsRules.EnsureSelfSigned(db, new MailPaths(config.SysRoot), config.MailHostname, DateTime.UtcNow));
        return 0;
    }

    static async Task<int> Daemon(string configPath)
    {
        var config = AppConfig.Load(configPath);
        await using var app = Program.Build(config);
        await app.StartAsync();
        SystemdNotify.Ready();
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>Writes DIR/config.env once (random secrets), prints how to call the sandbox, returns the config path.</summary>
    static string Dev(string dir)
    {
        dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(dir);
        var configPath = Path.Combine(dir, "config.env");
        var passwordFile = Path.Combine(dir, "admin-password");
        if (!File.Exists(configPath))
        {
            var password = Secret(20);
            var listen = Environment.GetEnvironmentVariable("MAILPANEL_LISTEN") is { Length: > 0 } l ? l : "127.0.0.1:8080";
            File.WriteAllText(configPath, $"""
                # MailPanel local sandbox (mailpanel dev). Nothing here touches the real system.
                LISTEN={listen}
                API_KEY={Secret(40)}
                ADMIN_USER=admin
                ADMIN_PASSWORD_HASH={Passwords.Hash(password)}
                JWT_SECRET={Secret(48)}
                DATA_DIR={dir}/data
                VMAIL_DIR={dir}/vmail
                SYSROOT={dir}/root
                RATE_LIMIT_API_PER_MIN=600

                """, new System.Text.UTF8Encoding(false));
            File.SetUnixFileMode(configPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(passwordFile, password + "\n");
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var config = AppConfig.Load(configPath);
        Directory.CreateDirectory(config.SysRoot);
        Console.WriteLine($"""
            MailPanel sandbox in {dir}
              API:       http://{config.Listen}
              API key:   {config.ApiKey}
              admin:     {config.AdminUser} / {(File.Exists(passwordFile) ? File.ReadAllText(passwordFile).Trim() : "(see " + passwordFile + ")")}
              try:       curl -H 'X-API-Key: {config.ApiKey}' http://{config.Listen}/api/v1/domains
            """);
        return configPath;
    }

    /// <summary>Letters and digits only, so `grep ^API_KEY= | cut -d= -f2` reads it whole.</summary>
    public static string Secret(int length) =>
        RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", length);
}

/// <summary>sd_notify(READY=1) for Type=notify units: one datagram to $NOTIFY_SOCKET, no library.</summary>
internal static class SystemdNotify
{
    public static void Ready()
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path)) return;
        if (path[0] == '@') path = "\0" + path[1..]; // abstract namespace socket
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        socket.Send("READY=1"u8);
    }
}
