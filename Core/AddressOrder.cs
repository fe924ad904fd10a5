namespace MailPanel.Core;

/// <summary>
/// The order every per-mailbox file is written in: by domain, then by local part (ordinal, on the
/// lower-cased address). It is the order of the store's unique indexes, so the mailboxes can be
/// streamed from SQLite already sorted, and the one the apply's diffs walk.
/// </summary>
internal sealed class AddressOrder : IComparer<string>
{
    public static readonly AddressOrder Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null) return string.CompareOrdinal(x, y);
        var ax = x.LastIndexOf('@');
        var ay = y.LastIndexOf('@');
        var byDomain = string.CompareOrdinal(x[(ax + 1)..], y[(ay + 1)..]);
        return byDomain != 0 ? byDomain : string.CompareOrdinal(x[..Math.Max(ax, 0)], y[..Math.Max(ay, 0)]);
    }
}
