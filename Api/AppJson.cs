using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using MailPanel.Core;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Api;

/// <summary>
/// Every request and response type, source-generated (no reflection: the binary is trimmed and
/// AOT-compiled). snake_case names; an unknown request field is an error, never silently dropped.
/// Registered first in the resolver chain (Program.cs).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    RespectNullableAnnotations = false,
    NumberHandling = JsonNumberHandling.Strict)]
// Plumbing
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(Ack))]
[JsonSerializable(typeof(PageMeta))]
// Auth, tokens, security
[JsonSerializable(typeof(JwtHeader))]
[JsonSerializable(typeof(JwtClaims))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(LoginResponse))]
[JsonSerializable(typeof(VerifyResponse))]
[JsonSerializable(typeof(TokenCreate))]
[JsonSerializable(typeof(TokenSecret))]
[JsonSerializable(typeof(ListPage<ApiToken>))]
[JsonSerializable(typeof(SecuritySettings))]
[JsonSerializable(typeof(SecuritySettingsInput))]
// Domains
[JsonSerializable(typeof(Domain))]
[JsonSerializable(typeof(DomainCreate))]
[JsonSerializable(typeof(DomainPatch))]
[JsonSerializable(typeof(ListPage<Domain>))]
// Mailboxes
[JsonSerializable(typeof(Mailbox))]
[JsonSerializable(typeof(MailboxCreate))]
[JsonSerializable(typeof(MailboxPatch))]
[JsonSerializable(typeof(MailboxPassword))]
[JsonSerializable(typeof(ListPage<Mailbox>))]
// Aliases
[JsonSerializable(typeof(Alias))]
[JsonSerializable(typeof(AliasCreate))]
[JsonSerializable(typeof(ListPage<Alias>))]
// Backup
[JsonSerializable(typeof(BackupDocument))]
[JsonSerializable(typeof(RestoreResult))]
// System
[JsonSerializable(typeof(AboutInfo))]
[JsonSerializable(typeof(Health))]
[JsonSerializable(typeof(ReconcileApplied))]
[JsonSerializable(typeof(ReconcileFailed))]
// Mail queue, statistics, daemon status
[JsonSerializable(typeof(ListPage<QueueMessage>))]
[JsonSerializable(typeof(QueueDelete))]
[JsonSerializable(typeof(MailCounts))]
[JsonSerializable(typeof(DaemonStatus))]
// Configuration tiers
[JsonSerializable(typeof(GlobalConfig))]
[JsonSerializable(typeof(DomainDefaults))]
[JsonSerializable(typeof(MailboxDefaults))]
[JsonSerializable(typeof(DomainOverrides))]
[JsonSerializable(typeof(MailboxOverrides))]
[JsonSerializable(typeof(DomainEffective))]
[JsonSerializable(typeof(MailboxEffective))]
// Anti-spam
[JsonSerializable(typeof(AntispamConfig))]
[JsonSerializable(typeof(WhitelistCreate))]
[JsonSerializable(typeof(DkimGenerate))]
[JsonSerializable(typeof(DkimPublicKey))]
[JsonSerializable(typeof(ListPage<DkimListEntry>))]
// DNS hints
[JsonSerializable(typeof(DnsHintsResponse))]
// TLS
[JsonSerializable(typeof(ListPage<TlsCertView>))]
[JsonSerializable(typeof(TlsIssue))]
[JsonSerializable(typeof(TlsUploadResponse))]
[JsonSerializable(typeof(WhitelistEntry))]
[JsonSerializable(typeof(ListPage<WhitelistEntry>))]
// Quarantine (the content filter's withheld messages) and the scanners
[JsonSerializable(typeof(ListPage<QuarantineView>))]
[JsonSerializable(typeof(QuarantineMessage))]
[JsonSerializable(typeof(ScannersStatus))]
internal sealed partial class AppJson : JsonSerializerContext
{
    /// <summary>
    /// The context every call site uses (AppJson.Api.X, never AppJson.Api.X): the generated
    /// options plus an encoder that writes ' and &lt; as themselves, for readable error text.
    /// </summary>
    public static AppJson Api { get; } = new(Configure(new JsonSerializerOptions()));

    /// <summary>Applies the API's JSON conventions; also used for ASP.NET's HTTP JSON options so TypedResults match.</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.AllowDuplicateProperties = false;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        return options;
    }
}
