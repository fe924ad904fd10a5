namespace MailPanel.Sys;

/// <summary>
/// The on-disk mail store: VMAIL_DIR/&lt;domain&gt;/&lt;username&gt;/Maildir, Maildir++ as Dovecot reads it
/// (INBOX in cur/new/tmp, folders as dot-directories with a "maildirfolder" marker). Names reaching
/// here are already validated (no '/', no "..", no NUL), so they cannot leave VMAIL_DIR.
/// </summary>
internal sealed class Maildirs(string vmailDir)
{
    public static readonly string[] Folders = ["Sent", "Drafts", "Trash", "Junk"];

    const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Root => vmailDir;

    public string DomainDir(string domain) => Path.Combine(vmailDir, domain);

    public string MailboxDir(string domain, string username) => Path.Combine(vmailDir, domain, username);

    /// <summary>
    /// Creates VMAIL_DIR if missing (at start-up: /health reports a missing root as an error) and
    /// gives it to vmail: Dovecot (as vmail) creates the home and Maildir of a mailbox on first use.
    /// </summary>
    public void EnsureRoot() => MakeDir(vmailDir);

    public void CreateDomain(string domain)
    {
        EnsureRoot();
        MakeDir(DomainDir(domain));
    }

    /// <summary>Creates the mailbox tree. Returns false when it already existed (so a rollback must not remove it).</summary>
    public bool CreateMailbox(string domain, string username)
    {
        CreateDomain(domain);
        var home = MailboxDir(domain, username);
        var existed = Directory.Exists(home);
        MakeDir(home);
        var maildir = Path.Combine(home, "Maildir");
        MakeMaildir(maildir);
        foreach (var folder in Folders)
        {
            var dir = Path.Combine(maildir, "." + folder);
            MakeMaildir(dir);
            var marker = Path.Combine(dir, "maildirfolder");
            if (!File.Exists(marker)) File.WriteAllBytes(marker, []);
            Owner.Apply(marker);
        }
        var subscriptions = Path.Combine(maildir, "subscriptions");
        if (!File.Exists(subscriptions))
        {
            File.WriteAllText(subscriptions, string.Join('\n', Folders) + "\n");
            Owner.Apply(subscriptions);
        }
        return !existed;
    }

    public bool MailboxExists(string domain, string username) => Directory.Exists(MailboxDir(domain, username));

    const string DetachedPrefix = ".deleted-";

    /// <summary>
    /// Moves a mailbox tree out of the way (one rename, inside the caller's write lock) and returns
    /// where it went, or null when there was none. Deleting it later, outside the lock, can then never
    /// touch a tree that a re-create of the same name made in between.
    /// </summary>
    public string? DetachMailbox(string domain, string username) => Detach(MailboxDir(domain, username));

    public string? DetachDomain(string domain) => Detach(DomainDir(domain));

    string? Detach(string path)
    {
        if (!Directory.Exists(path)) return null;
        var detached = Path.Combine(vmailDir, DetachedPrefix + Guid.NewGuid().ToString("N"));
        Directory.Move(path, detached);
        return detached;
    }

    public static void RemoveDetached(string? detached)
    {
        if (detached is not null && Directory.Exists(detached)) Directory.Delete(detached, recursive: true);
    }

    /// <summary>Removes a mailbox tree at once (a create that failed removes the tree it made).</summary>
    public void RemoveMailbox(string domain, string username)
    {
        var path = MailboxDir(domain, username);
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }

    /// <summary>Trees detached by a delete that a crash cut short before it removed them (at start-up).</summary>
    public void RemoveLeftovers()
    {
        if (!Directory.Exists(vmailDir)) return;
        foreach (var dir in Directory.EnumerateDirectories(vmailDir, DetachedPrefix + "*")) Directory.Delete(dir, recursive: true);
    }

    static void MakeMaildir(string dir)
    {
        MakeDir(dir);
        foreach (var sub in new[] { "cur", "new", "tmp" }) MakeDir(Path.Combine(dir, sub));
    }

    static void MakeDir(string dir)
    {
        if (!Directory.Exists(dir)) Directory.CreateDirectory(dir, Private);
        Owner.Apply(dir);
    }

    /// <summary>Maildirs belong to the vmail user when it exists and we may chown (root); otherwise they stay ours.</summary>
    internal static class Owner
    {
        static readonly (uint Uid, uint Gid)? Vmail = Posix.IsRoot ? Posix.LookupUser("vmail") : null;

        public static void Apply(string path)
        {
            if (Vmail is { } v) Posix.Chown(path, v.Uid, v.Gid);
        }
    }
}
