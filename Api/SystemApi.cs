namespace MailPanel;

internal static class SystemApi
{
    public static void MapSystem(this IEndpointRouteBuilder app)
    {
    }
}
