using MailPanel.Core;

namespace MailPanel.Sys;

internal enum ServiceState { Running, Stopped, Unknown }

/// <summary>A probe's answer: running / stopped / unknown, plus a short human reason.</summary>
internal sealed record ServiceStatus(ServiceState State, string Message);

/// <summary>
/// Is Postfix / Dovecot installed, which version, is it running. The one place that asks: /health,
/// /system/about and the mail-stack status routes all come here.
/// Running detection: under systemd (SYSROOT/run/systemd/system exists, as sd_booted(3) checks)
/// `systemctl is-active UNIT`; otherwise the master's pid file (Postfix: queue_directory/pid/master.pid,
/// Dovecot: base_dir/master.pid, both from <see cref="MailPaths"/>) and kill(pid, 0). Presence, versions and systemctl answers are
/// cached, so a load balancer polling /health never makes the daemon spawn a process per request.
/// </summary>
internal sealed class Services(MailPaths paths, TimeProvider time)
{
    /// <summary>A mail daemon: the binary that proves it is installed, its systemd unit and its master pid file (a full host path).</summary>
    internal sealed record Service(string Name, string Binary, string[] VersionArgs, string Unit, string PidFile);

    public static readonly TimeSpan VersionTtl = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan StatusTtl = TimeSpan.FromSeconds(5);

    readonly Dictionary<string, Service> known = new(StringComparer.Ordinal)
    {
        // -d: the compiled-in default. A plain `postconf -h mail_version` reads /etc/postfix/main.cf and dies
        // when it does not exist (a host whose only Postfix config is the panel's SYSROOT/etc/postfix).
        ["postfix"] = new("postfix", "postconf", ["-d", "-h", "mail_version"], "postfix", paths.PostfixPidFile),
        ["dovecot"] = new("dovecot", "dovecot", ["--version"], "dovecot", paths.DovecotPidFile),
        ["opendkim"] = new("opendkim", "opendkim", ["-V"], "opendkim", paths.OpenDkimPidFile),
        ["opendmarc"] = new("opendmarc", "opendmarc", ["-V"], "opendmarc", paths.OpenDmarcPidFile),
    };
    readonly Lock gate = new();
    readonly Dictionary<string, (string? Value, DateTimeOffset At)> versions = new(StringComparer.Ordinal);
    readonly Dictionary<string, (string? Value, DateTimeOffset At)> binaries = new(StringComparer.Ordinal);
    readonly Dictionary<string, (ServiceStatus Value, DateTimeOffset At)> statuses = new(StringComparer.Ordinal);

    /// <summary>Where binaries are looked up: the runner's fixed PATH; tests point it at fake binaries.</summary>
    public string SearchPath { get; set; } = Run.Path;

    /// <summary>Replaces a service's master pid file: a full host path (take it from <see cref="MailPaths"/>; no SYSROOT is added).</summary>
    public void SetPidFile(string name, string pidFile) => known[name] = known[name] with { PidFile = pidFile };

    /// <summary>The absolute path of a mail-stack tool (postqueue, postsuper, journalctl) on <see cref="SearchPath"/>, or null.</summary>
    public string? Which(string program) => Run.Which(program, SearchPath);

    /// <summary>The names the status routes and /health know: "postfix", "dovecot".</summary>
    public bool Knows(string name) => known.ContainsKey(name);

    /// <summary>Forgets cached versions and statuses (tests; the mail-stack work after installing packages).</summary>
    public void Forget()
    {
        lock (gate) { versions.Clear(); statuses.Clear(); binaries.Clear(); }
    }

    public bool IsInstalled(string name) => Binary(name) is not null;

    /// <summary>The service's binary on the search path (cached: packages are not installed every second).</summary>
    string? Binary(string name)
    {
        lock (gate)
            if (binaries.TryGetValue(name, out var hit) && time.GetUtcNow() - hit.At < VersionTtl) return hit.Value;
        var binary = Run.Which(known[name].Binary, SearchPath);
        lock (gate) binaries[name] = (binary, time.GetUtcNow());
        return binary;
    }

    /// <summary>The installed version ("3.8.1"), or null when the binary is not on the PATH or says nothing usable.</summary>
    public async Task<string?> Version(string name, CancellationToken cancel = default)
    {
        lock (gate)
            if (versions.TryGetValue(name, out var hit) && time.GetUtcNow() - hit.At < VersionTtl) return hit.Value;
        var service = known[name];
        string? version = null;
        if (Binary(name) is { } binary)
        {
            var result = await Run.Exec(binary, service.VersionArgs, TimeSpan.FromSeconds(10), cancel: cancel);
            // postconf -d -h mail_version prints "3.7.11"; dovecot --version prints "2.3.19.1 (9b53102964)".
            if (result.Ok && result.Stdout.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries) is [var first, ..])
                version = first;
        }
        lock (gate) versions[name] = (version, time.GetUtcNow());
        return version;
    }

    /// <summary>Whether the service runs. Unknown when it cannot be told (systemctl failed, unreadable pid file).</summary>
    public async Task<ServiceStatus> Status(string name, CancellationToken cancel = default)
    {
        var service = known[name];
        if (!paths.IsSystemd) return FromPidFile(service);

        lock (gate)
            if (statuses.TryGetValue(name, out var hit) && time.GetUtcNow() - hit.At < StatusTtl) return hit.Value;
        var result = Which("systemctl") is { } systemctl
            ? await Run.Exec(systemctl, ["is-active", service.Unit], TimeSpan.FromSeconds(5), cancel: cancel)
            : new RunResult(127, "", "", false, true);
        // The message is systemctl's own word ("inactive", "failed", "activating"), as the reference's status routes show it.
        var state = result.Stdout.Trim();
        var status = result.NotFound || result.TimedOut ? new ServiceStatus(ServiceState.Unknown, result.Describe("systemctl"))
            : state == "active" ? new ServiceStatus(ServiceState.Running, "active")
            : new ServiceStatus(ServiceState.Stopped, state.Length > 0 ? state : "inactive");
        lock (gate) statuses[name] = (status, time.GetUtcNow());
        return status;
    }

    ServiceStatus FromPidFile(Service service)
    {
        var path = service.PidFile;
        string text;
        try
        {
            text = Posix.ReadSmallFile(path); // not File.ReadAllText: the Postfix master holds its pid file locked
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new ServiceStatus(ServiceState.Stopped, $"no pid file {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ServiceStatus(ServiceState.Unknown, $"cannot read {path}: {e.Message}");
        }
        // Postfix writes the pid right-aligned in 10 columns, Dovecot as a plain line.
        if (!int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) || pid <= 0)
            return new ServiceStatus(ServiceState.Unknown, $"{path} holds no pid");
        return Posix.IsAlive(pid)
            ? new ServiceStatus(ServiceState.Running, $"master pid {pid}")
            : new ServiceStatus(ServiceState.Stopped, $"master pid {pid} is not running (stale {path})");
    }
}
