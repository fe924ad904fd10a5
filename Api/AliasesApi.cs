namespace MailPanel;

internal static class AliasesApi
{
    public static void MapAliases(this IEndpointRouteBuilder app)
    {
    }
}
