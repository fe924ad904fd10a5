namespace MailPanel.Mail;

/// <summary>
/// The background reconcile worker. Mutations call <see cref="Request"/> after they commit; one
/// worker loop coalesces bursts (a thousand creates in a row cause a handful of applies, not a
/// thousand) and runs the apply function. POST /system/reconcile runs one synchronously through
/// <see cref="RunNow"/>; both paths share one lock, so two applies never overlap.
/// </summary>
internal sealed class Reconciler(Func<CancellationToken, Task<ReconcileResult>> apply, ILogger<Reconciler> log) : BackgroundService
{
    readonly SemaphoreSlim pending = new(0, 1);
    readonly SemaphoreSlim running = new(1, 1);
    int requested;
    long applies;

    /// <summary>How many applies have run since start (background and synchronous).</summary>
    public long Applies => Interlocked.Read(ref applies);

    public void Request(string reason)
    {
        if (Interlocked.Exchange(ref requested, 1) == 0)
        {
            log.LogDebug("reconcile requested: {Reason}", reason);
            try { pending.Release(); }
            catch (SemaphoreFullException) { }
        }
    }

    public async Task<ReconcileResult> RunNow(CancellationToken cancel)
    {
        await running.WaitAsync(cancel);
        try
        {
            Interlocked.Exchange(ref requested, 0);
            return await ApplyOnce(cancel);
        }
        finally
        {
            running.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await pending.WaitAsync(stoppingToken);
                await running.WaitAsync(stoppingToken);
                try
                {
                    if (Interlocked.Exchange(ref requested, 0) == 0) continue;
                    var result = await ApplyOnce(stoppingToken);
                    if (!result.Ok) log.LogError("background reconcile failed at {Step}: {Error}", result.FailedStep, result.Error);
                    else log.LogInformation("background reconcile: {Log}", string.Join("; ", result.Log));
                }
                finally
                {
                    running.Release();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    async Task<ReconcileResult> ApplyOnce(CancellationToken cancel)
    {
        Interlocked.Increment(ref applies);
        try
        {
            return await apply(cancel);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ReconcileResult.Failed("reconcile", e.Message, [$"unexpected error: {e.Message}"]);
        }
    }
}

internal sealed record ReconcileResult(bool Ok, string? FailedStep, string? Error, IReadOnlyList<string> Log)
{
    public static ReconcileResult Success(IReadOnlyList<string> log) => new(true, null, null, log);

    public static ReconcileResult Failed(string step, string error, IReadOnlyList<string> log) => new(false, step, error, log);
}
