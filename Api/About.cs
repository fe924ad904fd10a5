namespace MailPanel.Api;

/// <summary>Build identification (section 15).</summary>
internal static class About
{
    public const string App = "BackendSide MailPanel";
    public const string Version = "0.1.0";
    public const string Build = "056";
    public const string Copyright = "© 2025 backendside.com";
    public const string Website = "https://backendside.com";
}
