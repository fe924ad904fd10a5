namespace MailPanel;

internal static class BackupApi
{
    public static void MapBackup(this IEndpointRouteBuilder app)
    {
    }
}
