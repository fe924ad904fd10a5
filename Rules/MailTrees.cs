using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Rules;

/// <summary>
/// The maildir side of domain and mailbox writes, always after the database commit (never inside a
/// transaction that could still roll back). Creates and deletes of domains and mailboxes hold
/// <see cref="Lock"/> from before their write transaction until their tree step is done, so tree
/// steps happen in commit order: a delete's "move the tree aside" can never reach the fresh tree of
/// a re-create of the same address that committed after it. A crash between a create's commit and
/// its tree step leaves nothing half-done that matters: Dovecot (as vmail) makes the home, Maildir and
/// the four standard folders on first login or delivery (dovecot.conf: mail_home, `auto = subscribe`),
/// and a tree a crashed delete moved aside is swept at start-up (Maildirs.RemoveLeftovers).
/// </summary>
internal sealed class MailTrees(Maildirs maildirs, ILogger<MailTrees> log)
{
    readonly SemaphoreSlim order = new(1, 1);

    public Maildirs Maildirs => maildirs;

    /// <summary>Held across commit + tree step; dispose to release.</summary>
    public async Task<IDisposable> Lock(CancellationToken cancel = default)
    {
        await order.WaitAsync(cancel);
        return new Release(order);
    }

    sealed class Release(SemaphoreSlim order) : IDisposable
    {
        int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0) order.Release();
        }
    }

    /// <summary>
    /// Makes the mailbox tree; on failure removes what this call made (a tree that was already there,
    /// left by an earlier failed delete, is reused and never removed) and returns the error text.
    /// </summary>
    public string? ProvisionMailbox(string domain, string username)
    {
        var existed = maildirs.MailboxExists(domain, username);
        try
        {
            maildirs.CreateMailbox(domain, username);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!existed) Quietly(() => { maildirs.RemoveMailbox(domain, username); return null; }, $"{username}@{domain}", "removed");
            return e.Message;
        }
    }

    public string? ProvisionDomain(string domain)
    {
        try
        {
            maildirs.CreateDomain(domain);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Deletes a row and then its tree: <paramref name="deleteRow"/> runs in one write transaction and
    /// names the tree (null: no such row); after the commit the tree is moved aside under the lock and
    /// removed outside it (it may be large). The row goes either way; a tree step that fails is logged.
    /// </summary>
    public async Task<bool> DeleteWithTree(Db db, Func<Db.Write, (string What, Func<string?> Detach)?> deleteRow)
    {
        string? detached;
        string what;
        using (await Lock())
        {
            (string What, Func<string?> Detach) tree;
            using (var write = await db.BeginWrite())
            {
                if (deleteRow(write) is not { } found) return false;
                tree = found;
                write.Commit();
            }
            what = tree.What;
            detached = Quietly(tree.Detach, what, "moved aside for removal");
        }
        Quietly(() => { Maildirs.RemoveDetached(detached); return detached; }, what, "removed");
        return true;
    }

    string? Quietly(Func<string?> step, string what, string verb)
    {
        try
        {
            return step();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("maildir of {What} could not be {Verb}: {Error}", what, verb, e.Message);
            return null;
        }
    }
}
