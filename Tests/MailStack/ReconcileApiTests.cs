using System.Net;

namespace MailPanel.Tests.MailStack;

/// <summary>POST /system/reconcile without running daemons: files rendered under SYSROOT, idempotent, rollback on failure.</summary>
public class ReconcileApiTests
{
    [Fact]
    public async Task ReconcileRendersEveryFileUnderSysrootAndIsIdempotent()
    {
        await using var s = await TestServer.Start();
        var d = await s.CreateDomain("example.com");
        await s.CreateMailbox(d, "alice");
        var r = await s.Post("/api/v1/system/reconcile");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("mail config applied", r.Json["message"]!.GetValue<string>());
        var root = s.Config.SysRoot;
        var obsolete = Path.Combine(root, "etc/dovecot/users"); // the first build's passwd-file
        await File.WriteAllTextAsync(obsolete, "alice@example.com:{BLF-CRYPT}$2b$10$stale::::::\n");
        foreach (var f in new[] { "etc/postfix/main.cf", "etc/postfix/master.cf", "etc/postfix/vmailbox", "etc/dovecot/dovecot.conf", "etc/dovecot/users.dict", "etc/dovecot/dict-users.conf.ext", "etc/dovecot/dict-deny.conf.ext" })
            Assert.True(File.Exists(Path.Combine(root, f)), f);
        Assert.Contains("shared/passdb/alice@example.com\n{\"password\":\"{BLF-CRYPT}$2b$", await File.ReadAllTextAsync(Path.Combine(root, "etc/dovecot/users.dict")), StringComparison.Ordinal);
        if (MailPanel.Sys.Run.Which("postmap") is not null) Assert.True(File.Exists(Path.Combine(root, "etc/postfix/vmailbox.lmdb")));

        var again = await s.Post("/api/v1/system/reconcile");
        again.AssertStatus(HttpStatusCode.OK);
        Assert.Contains("no changes", again.Json["log"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Contains(again.Json["log"]!.AsArray(), n => n!.GetValue<string>().StartsWith("removed users (rendered by an earlier build", StringComparison.Ordinal));
        Assert.False(File.Exists(obsolete));
    }
}
