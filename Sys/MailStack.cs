namespace MailPanel;

/// <summary>
/// Applies the store's state to the mail stack (Postfix, Dovecot, ...): render -> compare -> write
/// -> validate -> reload. The renderers arrive with the mail-stack work; until then an apply has
/// nothing to write and says so in its log.
/// </summary>
internal sealed class MailStack(AppConfig config, Db db)
{
    public static MailStack For(IServiceProvider services) =>
        new(services.GetRequiredService<AppConfig>(), services.GetRequiredService<Db>());

    public AppConfig Config => config;

    public Db Db => db;

    public Task<ReconcileResult> Apply(CancellationToken cancel) =>
        Task.FromResult(ReconcileResult.Success(["no mail-stack files are managed by this build"]));
}
