namespace MailPanel;

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

    /// <summary>Creates VMAIL_DIR if missing (at start-up: /health reports a missing root as an error).</summary>
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

    public void RemoveMailbox(string domain, string username) => RemoveTree(MailboxDir(domain, username));

    public void RemoveDomain(string domain) => RemoveTree(DomainDir(domain));

    static void RemoveTree(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
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
