namespace MailPanel;

internal static class ConfigApi
{
    public static void MapConfigTiers(this IEndpointRouteBuilder app)
    {
    }
}
