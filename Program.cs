using MailPanel.Api;
using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Rules;
using MailPanel.Store;
using MailPanel.Sys;

// The daemon manages a Linux mail stack; it runs nowhere else.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace MailPanel;

internal static class Program
{
    /// <summary>Subcommands (hash-password, dev) or the daemon: see Sys/Cli.cs.</summary>
    public static Task<int> Main(string[] args) => Cli.Run(args);

    /// <summary>The daemon: its services and routes, as a table of contents.</summary>
    public static WebApplication Build(AppConfig config, TimeProvider? time = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            Validate.TryParseListen(config.Listen, out var endpoint);
            kestrel.Listen(endpoint);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = Body.MaxBytes; // restore raises it per request
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("MailPanel", LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);

        // Source-generated JSON first: the trimmed binary has no reflection fallback.
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            AppJson.Configure(o.SerializerOptions);
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJson.Api);
        });

        var db = new Db(config.DatabasePath);
        Schema.Migrate(db); // a failure here ends start-up with a non-zero exit
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton(_ => db);
        builder.Services.AddSingleton(sp => new Access(db, config, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<RateLimiter>();
        builder.Services.AddSingleton(sp => new Jwt(System.Text.Encoding.UTF8.GetBytes(config.JwtSecret), sp.GetRequiredService<TimeProvider>()));
        var maildirs = new Maildirs(config.VmailDir);
        maildirs.EnsureRoot(); // /health reports a missing maildir root as an error
        maildirs.RemoveLeftovers(); // trees of deleted mailboxes/domains a crash left detached
        builder.Services.AddSingleton(maildirs);
        // Domain rules: what a create/update/delete means, whoever asks (Rules/).
        builder.Services.AddSingleton<MailTrees>();
        builder.Services.AddSingleton<DomainRules>();
        builder.Services.AddSingleton<MailboxRules>();
        builder.Services.AddSingleton<AliasRules>();
        builder.Services.AddSingleton<WhitelistRules>();
        builder.Services.AddSingleton<DkimKeyPool>(); // keys made ahead of time: generate answers without the RSA prime search
        builder.Services.AddSingleton<DkimRules>();
        builder.Services.AddSingleton<TlsRules>();
        var paths = new MailPaths(config.SysRoot);
        builder.Services.AddSingleton(paths); // where the mail stack lives, under SYSROOT
        builder.Services.AddSingleton(sp => new Services(paths, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<PostfixQueue>();
        builder.Services.AddSingleton<MailStats>();
        builder.Services.AddSingleton(sp => new MailStack(config, db, sp.GetRequiredService<Services>(), sp.GetRequiredService<ILogger<MailStack>>()));
        builder.Services.AddSingleton(sp => new Reconciler(sp.GetRequiredService<MailStack>().Apply, sp.GetRequiredService<ILogger<Reconciler>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Reconciler>());
        // Postfix's policy delegation (send caps, recipient caps, greylisting) on a unix socket in private/.
        builder.Services.AddSingleton<PolicyRules>();
        builder.Services.AddSingleton<PolicyServer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PolicyServer>());
        // The content filter: a milter on a unix socket in private/ (spamd, clamd, per-recipient actions, the quarantine).
        builder.Services.AddSingleton<ContentFilter>();
        builder.Services.AddSingleton<QuarantineRules>();
        builder.Services.AddSingleton<MilterServer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MilterServer>());

        var app = builder.Build();
        app.UseErrorShape(); // flat errors for exceptions, unknown routes and wrong methods
        app.UseGate();       // deny by default: only /health, /auth/login, /auth/verify are open

        app.MapAuth();
        app.MapTokens();
        app.MapSecurity();
        app.MapDomains();
        app.MapDns(); // GET /domains/:id/dns: the records to publish (API.md)
        app.MapMailboxes();
        app.MapAliases();
        app.MapConfigTiers();
        app.MapAntispam();
        app.MapQuarantine(); // the content filter's quarantine and GET /antispam/scanners (API.md)
        app.MapDkim();
        app.MapTls();
        app.MapBackup();
        app.MapSystem();
        app.MapQueue();
        app.MapStats();
        return app;
    }
}
