using MailPanel.Core;
using MailPanel.Mail;
using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>What creating and deleting an alias means: source in a managed domain, destination list, the max_aliases cap.</summary>
internal sealed class AliasRules(Db db, Reconciler reconciler)
{
    public async Task<Outcome<Alias>> Create(string? requestedSource, string? requestedDestination)
    {
        if (string.IsNullOrEmpty(requestedSource)) return Refused.Invalid("source is required");
        var source = requestedSource.ToLowerInvariant();
        var at = source.LastIndexOf('@');
        if (at <= 0 || at == source.Length - 1)
            return Refused.Invalid("source must be of the form local@domain", $"'{requestedSource}' is not local@domain");
        var local = source[..at];
        var domainName = source[(at + 1)..];
        if (!Validate.IsLocalPart(local))
            return Refused.Invalid("invalid source", $"'{local}' is not a valid local part (RFC 5321 dot-atom, at most 64 characters)");
        var destination = Validate.AddressList(requestedDestination, out var destinationError);
        if (destination is null) return Refused.Invalid("invalid destination", destinationError);

        Alias alias;
        using (var write = await db.BeginWrite())
        {
            if (DomainStore.GetByName(write, domainName) is not { } domain)
                return Refused.Invalid($"source domain {domainName} is not managed by this server");
            if (AliasStore.SourceExists(write, source)) return Refused.Conflict($"alias {source} already exists");
            if (Caps.Aliases(write, domain) is { } full) return full;
            alias = AliasStore.Insert(write, domain.Id, source, destination);
            if (ForwardLoops.Find(write) is { } loop) return Refused.Invalid("destination would make a forwarding loop", loop);
            write.Commit();
        }
        reconciler.Request("alias created");
        return Outcome<Alias>.Done(alias);
    }

    public async Task<Outcome<Done>> Delete(long id)
    {
        using (var write = await db.BeginWrite())
        {
            if (!AliasStore.Delete(write, id)) return Refused.NotFound("alias not found");
            write.Commit();
        }
        reconciler.Request("alias deleted");
        return Outcome<Done>.Done(default);
    }
}
