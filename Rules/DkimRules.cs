using MailPanel.Core;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Rules;

/// <summary>
/// DKIM keys (section 8). The domain and selector are validated before either becomes part of a
/// path. A key file and its row change together: the new key is written (mode 0600 from its first
/// byte, owned by the opendkim user where it exists) under a temp name, renamed over the old one
/// inside the write transaction, and put back if the commit fails. As the reference says, neither
/// generate nor delete reconciles by itself: the next reconcile (POST /system/reconcile, or the
/// one any domain mutation requests) puts the change into OpenDKIM's tables.
/// </summary>
internal sealed class DkimRules(Db db, MailPaths paths, DkimKeyPool pool)
{
    const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    const UnixFileMode Mode0700 = Mode0600 | UnixFileMode.UserExecute;

    /// <summary>The lower-case domain and the selector (default when omitted), or the reference's 400.</summary>
    public static Outcome<(string Domain, string Selector)> Name(string? domain, string? selector)
    {
        if (string.IsNullOrEmpty(domain)) return Refused.Invalid("domain is required");
        if (!Validate.IsDomainName(domain)) return Refused.Invalid("invalid domain name", $"'{domain}' is not a valid DNS name");
        selector ??= DkimKeys.DefaultSelector;
        if (!Validate.IsSelector(selector))
            return Refused.Invalid("invalid selector", "a DKIM selector is 1-63 letters, digits, '-' or '_'");
        return Outcome<(string, string)>.Done((domain.ToLowerInvariant(), selector));
    }

    public async Task<Outcome<DkimKey>> Generate(string? requestedDomain, string? requestedSelector)
    {
        var name = Name(requestedDomain, requestedSelector);
        if (!name.Ok) return Outcome<DkimKey>.Refuse(name.Refused!.Value, name.Error, name.Detail);
        var (domain, selector) = name.Value;
        var (privateKey, publicKey) = await pool.Take(CancellationToken.None);
        var record = DkimKeys.Txt(domain, selector, publicKey);
        var path = paths.DkimKeyPath(domain, selector);
        var temp = AtomicFile.TempName(path);
        var previous = path + ".mp-prev";
        var owner = Posix.LookupUser("opendkim");
        try
        {
            Posix.EnsureDirectory(Path.GetDirectoryName(path)!, Mode0700, owner); // missing parents (keys/, opendkim/) 0755 root
            AtomicFile.WriteTemp(path, privateKey, Mode0600);
            DkimKey row;
            using (var write = await db.BeginWrite())
            {
                row = DkimStore.Upsert(write, domain, selector, path, record);
                var existed = File.Exists(path);
                if (existed) { File.Delete(previous); Posix.Link(path, previous); }
                AtomicFile.Install(temp, path, Mode0600, owner);
                try { write.Commit(); }
                catch
                {
                    if (existed) File.Move(previous, path, overwrite: true);
                    else AtomicFile.Delete(path);
                    throw;
                }
            }
            if (File.Exists(previous)) File.Delete(previous);
            return Outcome<DkimKey>.Done(row);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(temp)) File.Delete(temp);
            return Refused.Failed("opendkim-genkey failed",
                $"the key was generated in-process but could not be stored under {paths.OpenDkimKeysDir}: {e.Message}");
        }
    }

    /// <summary>Retires a key: the row goes, then its file; the next reconcile stops signing with it.</summary>
    public async Task<Outcome<Done>> Delete(string? requestedDomain, string? requestedSelector)
    {
        var name = Name(requestedDomain, requestedSelector);
        if (!name.Ok) return Outcome<Done>.Refuse(name.Refused!.Value, name.Error, name.Detail);
        var (domain, selector) = name.Value;
        DkimKey? row;
        using (var write = await db.BeginWrite())
        {
            row = DkimStore.Delete(write, domain, selector);
            if (row is null) return Refused.NotFound("public key not found");
            write.Commit();
        }
        try
        {
            AtomicFile.Delete(paths.DkimKeyPath(domain, selector));
            var dir = Path.GetDirectoryName(paths.DkimKeyPath(domain, selector))!;
            if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The row is gone, so nothing signs with the key any more; a file left behind is only untidy.
        }
        return Outcome<Done>.Done(default);
    }
}
