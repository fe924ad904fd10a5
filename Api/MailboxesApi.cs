namespace MailPanel;

internal static class MailboxesApi
{
    public static void MapMailboxes(this IEndpointRouteBuilder app)
    {
    }
}
