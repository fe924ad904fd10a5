using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Store;
using Microsoft.Data.Sqlite;

namespace MailPanel.Rules;

/// <summary>
/// What creating, changing and deleting a mailbox means, whoever asks (API, web UI, script): field
/// rules, the domain's max_mailboxes cap, the maildir tree after the commit, and the reconcile.
/// </summary>
internal sealed class MailboxRules(Db db, MailTrees trees, Reconciler reconciler)
{
    public async Task<Outcome<Mailbox>> Create(long? domainId, string? username, string? password, long? quota)
    {
        if (domainId is null) return Refused.Invalid("domain_id is required");
        if (domainId <= 0) return Refused.Invalid("invalid domain_id", "domain_id must be a positive integer");
        if (username is null) return Refused.Invalid("username is required");
        if (Passwords.Validate(password) is { } passwordError) return Refused.Invalid("invalid password", passwordError);
        var bytes = quota ?? 0;
        if (Validate.Range("quota", bytes, 0, Validate.MaxBytes) is { } quotaError) return Refused.Invalid("invalid quota", quotaError);

        // Everything that can be refused without the write lock is refused here, before the ~60 ms
        // bcrypt hash; the locks are then held only for the SQL and the maildir.
        if (DomainStore.Get(db, domainId.Value) is not { } domain) return Refused.NotFound("domain not found");
        if (Validate.MailboxUsername(username, domain.Id, domain.Name, out var local) is { } usernameError) return Refused.Invalid(usernameError);
        var hash = Passwords.Hash(password!);

        Mailbox mailbox;
        using (await trees.Lock())
        {
            try
            {
                using (var write = await db.BeginWrite())
                {
                    if (DomainStore.Get(write, domain.Id) is null) return Refused.NotFound("domain not found"); // deleted meanwhile
                    if (MailboxStore.Exists(write, domain.Id, local)) return Refused.Conflict($"mailbox {local}@{domain.Name} already exists");
                    if (Caps.Mailboxes(write, domain) is { } full) return full;
                    mailbox = MailboxStore.Insert(write, domain.Id, local, hash, bytes);
                    write.Commit();
                }
            }
            catch (SqliteException e)
            {
                return Refused.Failed("DB insert failed", e.Message);
            }
            if (trees.ProvisionMailbox(domain.Name, local) is { } treeError)
            {
                // The reference: "maildir creation failed (DB row is rolled back if the filesystem step fails)".
                using (var write = await db.BeginWrite())
                {
                    MailboxStore.Delete(write, mailbox.Id);
                    write.Commit();
                }
                return Refused.Failed("maildir creation failed", treeError);
            }
        }
        reconciler.Request("mailbox created");
        return Outcome<Mailbox>.Done(mailbox);
    }

    public async Task<Outcome<Mailbox>> Update(long id, long? quota, bool? active)
    {
        if (Validate.Range("quota", quota, 0, Validate.MaxBytes) is { } quotaError) return Refused.Invalid("invalid quota", quotaError);
        Mailbox updated;
        using (var write = await db.BeginWrite())
        {
            if (MailboxStore.Get(write, id) is not { } current) return Refused.NotFound("mailbox not found");
            updated = MailboxStore.Update(write, id, quota ?? current.Quota, active ?? current.Active)!;
            write.Commit();
        }
        reconciler.Request("mailbox updated");
        return Outcome<Mailbox>.Done(updated);
    }

    public async Task<Outcome<Done>> SetPassword(long id, string? password)
    {
        if (Passwords.Validate(password) is { } passwordError) return Refused.Invalid("invalid password", passwordError);
        if (MailboxStore.Get(db, id) is null) return Refused.NotFound("mailbox not found"); // before spending a hash
        var hash = Passwords.Hash(password!);
        using (var write = await db.BeginWrite())
        {
            if (!MailboxStore.SetPassword(write, id, hash)) return Refused.NotFound("mailbox not found");
            write.Commit();
        }
        reconciler.Request("mailbox password changed");
        return Outcome<Done>.Done(default);
    }

    public async Task<Outcome<Done>> Delete(long id)
    {
        var deleted = await trees.DeleteWithTree(db, write =>
        {
            if (MailboxStore.Get(write, id) is not { } mailbox) return null;
            var domain = DomainStore.Get(write, mailbox.DomainId)!; // domain_id is a NOT NULL foreign key
            MailboxStore.Delete(write, id); // its overrides go by ON DELETE CASCADE
            return ($"{mailbox.Username}@{domain.Name}", () => trees.Maildirs.DetachMailbox(domain.Name, mailbox.Username));
        });
        if (!deleted) return Refused.NotFound("mailbox not found");
        reconciler.Request("mailbox deleted");
        return Outcome<Done>.Done(default);
    }
}
