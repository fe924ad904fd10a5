using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MailPanel.Tests;

/// <summary>Certificates for the TLS tests, made with .NET's own CertificateRequest (any validity window, RSA or ECDSA).</summary>
internal static class TestCerts
{
    public sealed record Pem(string Cert, string Key, DateTime NotAfterUtc, byte[] LeafDer);

    public static Pem SelfSigned(string host, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool ecdsa = false)
    {
        var from = notBefore ?? DateTimeOffset.UtcNow.AddDays(-1);
        var until = notAfter ?? DateTimeOffset.UtcNow.AddDays(90);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        if (ecdsa)
        {
            using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={host}", ec, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(san.Build());
            using var cert = request.CreateSelfSigned(from, until);
            return new Pem(cert.ExportCertificatePem() + "\n", ec.ExportPkcs8PrivateKeyPem() + "\n", cert.NotAfter.ToUniversalTime(), cert.RawData);
        }
        using var rsa = RSA.Create(2048);
        var rsaRequest = new CertificateRequest($"CN={host}", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rsaRequest.CertificateExtensions.Add(san.Build());
        using var rsaCert = rsaRequest.CreateSelfSigned(from, until);
        return new Pem(rsaCert.ExportCertificatePem() + "\n", rsa.ExportPkcs8PrivateKeyPem() + "\n", rsaCert.NotAfter.ToUniversalTime(), rsaCert.RawData);
    }

    /// <summary>An Ed25519 private key (neither RSA nor ECDSA), made by `openssl genpkey` once.</summary>
    public const string Ed25519Key = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIIHH1POk8VVL+KJhq+CCFKFTNEOtinEy6+w3SoMJko/Q
        -----END PRIVATE KEY-----

        """;

    /// <summary>POST /tls/upload as curl -F sends it: one text part per field that is not null.</summary>
    public static async Task<Response> Upload(TestServer s, string? hostname, string? cert, string? key)
    {
        using var form = new MultipartFormDataContent();
        if (hostname is not null) form.Add(new StringContent(hostname), "hostname");
        if (cert is not null) form.Add(new StringContent(cert), "cert_pem");
        if (key is not null) form.Add(new StringContent(key), "key_pem");
        return await s.Call(HttpMethod.Post, "/api/v1/tls/upload", configure: r => r.Content = form);
    }
}
