using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Rules;

/// <summary>What POST /tls/upload answers: the leaf's expiry.</summary>
internal sealed record TlsUploaded(string ExpiresAt);

/// <summary>
/// TLS certificates (section 9): operator uploads, Let's Encrypt through the real certbot, and the
/// registrations the reconcile points Postfix and Dovecot at. A bundle is checked whole
/// (<see cref="TlsBundle"/>) before a byte is written, so a bad upload leaves the served
/// certificate as it was. Every change asks for a background reconcile; the configs carry a digest
/// of the files, so a renewal that keeps the paths still reloads the daemons.
/// </summary>
internal sealed class TlsRules(Db db, MailPaths paths, AppConfig config, Reconciler reconciler, TimeProvider time, ILogger<TlsRules> log)
{
    const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    const UnixFileMode Mode0700 = Mode0600 | UnixFileMode.UserExecute;

    /// <summary>certbot takes its own lock and fails a second run at once; queue ours instead.</summary>
    readonly SemaphoreSlim certbot = new(1, 1);

    public static readonly TimeSpan IssueTimeout = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan RenewTimeout = TimeSpan.FromMinutes(15);

    /// <summary>certbot's output in an error body: whitespace-trimmed, at most this many characters (its tail: the cause comes last).</summary>
    public const int MaxOutputChars = 2000;

    public async Task<Outcome<TlsUploaded>> Upload(string? requestedHostname, string? certPem, string? keyPem)
    {
        if (string.IsNullOrEmpty(requestedHostname)) return Refused.Invalid("hostname is required");
        if (!Validate.IsDomainName(requestedHostname))
            return Refused.Invalid("invalid hostname", "hostname must be a DNS name such as mail.example.com");
        if (string.IsNullOrEmpty(certPem)) return Refused.Invalid("cert_pem is required", "send the PEM chain (leaf first) in the cert_pem form field");
        if (string.IsNullOrEmpty(keyPem)) return Refused.Invalid("key_pem is required", "send the PEM private key in the key_pem form field");
        var hostname = requestedHostname.ToLowerInvariant();
        var (bundle, error, detail) = TlsBundle.Check(hostname, certPem, keyPem, time.GetUtcNow().UtcDateTime);
        if (bundle is null) return Refused.Invalid(error, detail);

        var (chainPath, keyPath) = paths.TlsFiles("uploaded", hostname);
        var expires = Clock.Rfc3339(bundle.NotAfterUtc);
        var installed = new List<(string Path, bool Existed)>();
        var temps = new List<string>();
        try
        {
            Posix.EnsureDirectory(paths.TlsDir, Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, null);
            Posix.EnsureDirectory(Path.GetDirectoryName(chainPath)!, Mode0700, null);
            var keyTemp = AtomicFile.WriteTemp(keyPath, bundle.KeyPem, Mode0600);
            temps.Add(keyTemp);
            var chainTemp = AtomicFile.WriteTemp(chainPath, bundle.ChainPem, Mode0600);
            temps.Add(chainTemp);
            using var write = await db.BeginWrite();
            TlsStore.Upsert(write, hostname, chainPath, keyPath, "uploaded", expires);
            // The key first: the pair disagrees only between these two renames, and no daemon
            // re-reads either file before the reconcile that follows the commit.
            foreach (var (temp, path) in new[] { (keyTemp, keyPath), (chainTemp, chainPath) })
            {
                var existed = File.Exists(path);
                if (existed) { File.Delete(Previous(path)); Posix.Link(path, Previous(path)); }
                AtomicFile.Install(temp, path, Mode0600);
                installed.Add((path, existed));
            }
            write.Commit();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            // Put back what was there: the registration was not committed, so the files must not change either.
            foreach (var (path, existed) in installed)
            {
                if (existed) File.Move(Previous(path), path, overwrite: true);
                else AtomicFile.Delete(path);
            }
            foreach (var temp in temps.Where(File.Exists)) File.Delete(temp);
            log.LogError("tls upload for {Hostname} failed: {Error}", hostname, e.Message);
            return Refused.Failed("certificate could not be stored", $"writing under {paths.TlsDir} or registering it failed: {e.Message}");
        }
        foreach (var (path, _) in installed) if (File.Exists(Previous(path))) File.Delete(Previous(path));
        reconciler.Request("tls certificate uploaded");
        return Outcome<TlsUploaded>.Done(new TlsUploaded(expires));
    }

    static string Previous(string path) => path + ".mp-prev";

    /// <summary>How long the installer's self-signed certificate is valid (until an upload or Let's Encrypt replaces it).</summary>
    public const int SelfSignedDays = 3650;

    /// <summary>
    /// The installer's certificate (`mailpanel self-signed-cert`): a self-signed one for
    /// MAIL_HOSTNAME under tls/self/&lt;hostname&gt;/, registered as issuer self, unless one is
    /// already registered with its files present. Returns what it did. The caller reconciles.
    /// </summary>
    public static async Task<string> EnsureSelfSigned(Db db, MailPaths paths, string hostname, DateTime nowUtc)
    {
        var (chainPath, keyPath) = paths.TlsFiles("self", hostname);
        if (TlsStore.ByIssuer(db, "self").Any(c => string.Equals(c.Hostname, hostname, StringComparison.OrdinalIgnoreCase)
                && File.Exists(paths.Stored(c.CertPath)) && File.Exists(paths.Stored(c.KeyPath))))
            return $"a self-signed certificate for {hostname} is already registered";
        var bundle = TlsBundle.SelfSigned(hostname, nowUtc, SelfSignedDays);
        Posix.EnsureDirectory(paths.TlsDir, Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, null);
        Posix.EnsureDirectory(Path.GetDirectoryName(chainPath)!, Mode0700, null);
        AtomicFile.Install(AtomicFile.WriteTemp(keyPath, bundle.KeyPem, Mode0600), keyPath, Mode0600);
        AtomicFile.Install(AtomicFile.WriteTemp(chainPath, bundle.ChainPem, Mode0600), chainPath, Mode0600);
        using (var write = await db.BeginWrite())
        {
            TlsStore.Upsert(write, hostname, chainPath, keyPath, "self", Clock.Rfc3339(bundle.NotAfterUtc));
            write.Commit();
        }
        return $"self-signed certificate for {hostname} written to {chainPath} (valid until {Clock.Rfc3339(bundle.NotAfterUtc)})";
    }

    /// <summary>certbot certonly --standalone for one hostname; on success the live/ chain is registered as letsencrypt.</summary>
    public async Task<Outcome<Done>> Issue(string? domain, string? email, CancellationToken cancel)
    {
        if (string.IsNullOrEmpty(domain)) return Refused.Invalid("domain is required");
        if (!Validate.IsDomainName(domain)) return Refused.Invalid("invalid domain", $"'{domain}' is not a valid DNS name");
        // The reference's only 400 here is the domain: the address itself is certbot's (and the ACME
        // server's) to judge, and its refusal comes back as the 500 with certbot's output.
        if (string.IsNullOrEmpty(email)) return Refused.Invalid("email is required", "Let's Encrypt sends expiry notices to it");
        if (email.Length > 254 || email.Any(char.IsControl)) return Refused.Invalid("invalid email", "an email address is at most 254 printable characters");
        var hostname = domain.ToLowerInvariant();
        // --name=value: a value that starts with '-' can never be read as another option.
        string[] args =
        [
            "certonly", "--standalone", "--non-interactive", "--agree-tos", "--email=" + email,
            "--cert-name=" + hostname, "--domains=" + hostname, .. DirArgs(),
        ];
        var failed = await Certbot(args, IssueTimeout, cancel);
        if (failed is { } f) return f;

        var live = Path.Combine(paths.LetsEncryptDir, "live", hostname);
        var (chainPath, keyPath) = (Path.Combine(live, "fullchain.pem"), Path.Combine(live, "privkey.pem"));
        if (ReadExpiry(chainPath) is not { } expires || !File.Exists(keyPath))
            return Refused.Failed("certbot did not leave a certificate", $"certbot exited 0 but {chainPath} and {keyPath} are not a readable certificate and key");
        using (var write = await db.BeginWrite())
        {
            TlsStore.Upsert(write, hostname, chainPath, keyPath, "letsencrypt", expires);
            write.Commit();
        }
        reconciler.Request("tls certificate issued");
        return Outcome<Done>.Done(default);
    }

    /// <summary>certbot renew --quiet, then every letsencrypt registration's expiry is read again and the stack reconciled.</summary>
    public async Task<Outcome<Done>> Renew(CancellationToken cancel)
    {
        var failed = await Certbot(["renew", "--quiet", .. DirArgs()], RenewTimeout, cancel);
        if (failed is { } f) return f;
        var certs = TlsStore.ByIssuer(db, "letsencrypt");
        using (var write = await db.BeginWrite())
        {
            foreach (var cert in certs)
                if (ReadExpiry(paths.Stored(cert.CertPath)) is { } expires && expires != cert.ExpiresAt) TlsStore.SetExpiry(write, cert.Id, expires);
            write.Commit();
        }
        reconciler.Request("tls certificates renewed");
        return Outcome<Done>.Done(default);
    }

    /// <summary>Removes the registration only; the PEM files stay where they are (as the reference says).</summary>
    public async Task<Outcome<Done>> Delete(long id)
    {
        using (var write = await db.BeginWrite())
        {
            if (!TlsStore.Delete(write, id)) return Refused.NotFound("certificate not found");
            write.Commit();
        }
        reconciler.Request("tls certificate record removed");
        return Outcome<Done>.Done(default);
    }

    /// <summary>certbot's directories under SYSROOT (the defaults on a real host), so a sandbox never touches /etc/letsencrypt.</summary>
    string[] DirArgs() =>
        ["--config-dir=" + paths.LetsEncryptDir, "--work-dir=" + paths.HostPath("/var/lib/letsencrypt"), "--logs-dir=" + paths.HostPath("/var/log/letsencrypt")];

    /// <summary>Runs certbot; null when it succeeded, else the reference's 500: error = its trimmed output, detail = the exit-code message.</summary>
    async Task<Outcome<Done>?> Certbot(string[] args, TimeSpan timeout, CancellationToken cancel)
    {
        if (Run.Which(config.Certbot) is null)
            return Refused.Failed("certbot is not installed", $"'{config.Certbot}' is not on {Run.Path}; apt-get install certbot");
        RunResult result;
        await certbot.WaitAsync(cancel);
        try { result = await Run.Exec(config.Certbot, args, timeout, cancel: cancel); }
        finally { certbot.Release(); }
        if (result.Ok) return null;
        var output = (result.Stdout.Trim() + "\n" + result.Stderr.Trim()).Trim();
        if (output.Length > MaxOutputChars) output = output[^MaxOutputChars..].TrimStart();
        if (output.Length == 0) output = "certbot failed without output";
        var detail = result.TimedOut ? $"certbot timed out after {timeout.TotalMinutes:0} minutes" : $"certbot exited with code {result.ExitCode}";
        log.LogError("certbot {Command} failed: {Detail}", args[0], detail);
        return Refused.Failed(output, detail);
    }

    static string? ReadExpiry(string chainPath)
    {
        try
        {
            return TlsBundle.NotAfter(File.ReadAllText(chainPath)) is { } notAfter ? Clock.Rfc3339(notAfter) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
