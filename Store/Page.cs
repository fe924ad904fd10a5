namespace MailPanel.Store;

/// <summary>?page=N&amp;limit=N, defaults 1 / 50, limit at most 500 (parsed from the query by Api/Paging.cs).</summary>
internal readonly record struct Page(int Number, int Limit)
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;
    public const int MaxPage = 1_000_000_000;

    public long Offset => (long)(Number - 1) * Limit;
}
