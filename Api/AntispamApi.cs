namespace MailPanel;

internal static class AntispamApi
{
    public static void MapAntispam(this IEndpointRouteBuilder app)
    {
    }
}
