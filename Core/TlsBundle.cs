using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MailPanel.Core;

/// <summary>
/// A certificate chain and its private key, checked the way an operator expects before anything
/// is written: every block parses, the key is RSA or ECDSA and belongs to the leaf (the first
/// certificate), the hostname is covered by the leaf's SAN (or CN when it has no SAN), and no
/// certificate of the chain is expired or not yet valid. Pure: no files, no clock of its own.
/// Error texts never quote the key.
/// </summary>
internal static class TlsBundle
{
    /// <summary>A real chain with its intermediates is a few KB; anything over this is not a PEM bundle.</summary>
    public const int MaxPemChars = 256 * 1024;

    /// <summary>A checked bundle: the chain and the key re-encoded (only their PEM blocks, PKCS#8 key), the leaf's expiry.</summary>
    public sealed record Checked(string ChainPem, string KeyPem, DateTime NotAfterUtc, string Subject);

    /// <summary>The checked bundle, or the reason it is refused (error, detail).</summary>
    public static (Checked? Bundle, string Error, string Detail) Check(string hostname, string certPem, string keyPem, DateTime nowUtc)
    {
        if (certPem.Length > MaxPemChars) return Fail("cert_pem is too large", $"a PEM chain is at most {MaxPemChars} characters");
        if (keyPem.Length > MaxPemChars) return Fail("key_pem is too large", $"a PEM key is at most {MaxPemChars} characters");
        var chain = Chain(certPem);
        if (chain is null || chain.Count == 0)
            return Fail("unparseable PEM", "cert_pem holds no readable '-----BEGIN CERTIFICATE-----' block");
        try
        {
            var leaf = chain[0];
            byte[] keySpki;
            string keyOut;
            var label = PemLabel(keyPem);
            if (label is null) return Fail("unparseable PEM", "key_pem holds no readable PEM private key block");
            if (label == "ENCRYPTED PRIVATE KEY") return Fail("unsupported private key", "key_pem is encrypted; upload the key without a passphrase");
            if (TryKey(RSA.Create(), keyPem, out var rsaSpki, out var rsaPem)) (keySpki, keyOut) = (rsaSpki, rsaPem);
            else if (TryKey(ECDsa.Create(), keyPem, out var ecSpki, out var ecPem)) (keySpki, keyOut) = (ecSpki, ecPem);
            else return Fail("unsupported private key", "key_pem is neither an RSA nor an ECDSA private key");

            var leafSpki = leaf.PublicKey.ExportSubjectPublicKeyInfo();
            if (!CryptographicOperations.FixedTimeEquals(leafSpki, keySpki))
                return Fail("key does not match the certificate", "key_pem is not the private key of the first certificate in cert_pem");
            if (!leaf.MatchesHostname(hostname, allowWildcards: true, allowCommonName: true))
                return Fail("certificate does not cover hostname", $"'{hostname}' is in neither the subject alternative names nor the common name of {leaf.Subject}");
            foreach (var cert in chain)
            {
                if (cert.NotAfter.ToUniversalTime() <= nowUtc)
                    return Fail("certificate expired", $"{cert.Subject} expired at {Clock.Rfc3339(cert.NotAfter.ToUniversalTime())}");
                if (cert.NotBefore.ToUniversalTime() > nowUtc)
                    return Fail("certificate not yet valid", $"{cert.Subject} is valid from {Clock.Rfc3339(cert.NotBefore.ToUniversalTime())}");
            }
            var chainOut = new StringBuilder();
            foreach (var cert in chain) chainOut.Append(PemEncoding.Write("CERTIFICATE", cert.RawData)).Append('\n');
            return (new Checked(chainOut.ToString(), keyOut, leaf.NotAfter.ToUniversalTime(), leaf.Subject), "", "");
        }
        finally
        {
            foreach (var cert in chain) cert.Dispose();
        }
    }

    /// <summary>The leaf's expiry of a PEM chain (a certificate certbot wrote), or null when it does not parse.</summary>
    public static DateTime? NotAfter(string certPem)
    {
        var chain = Chain(certPem);
        if (chain is null || chain.Count == 0) return null;
        var notAfter = chain[0].NotAfter.ToUniversalTime();
        foreach (var cert in chain) cert.Dispose();
        return notAfter;
    }

    /// <summary>A self-signed RSA 2048 certificate for <paramref name="hostname"/> (SAN and CN), valid from a day before now for <paramref name="days"/>.</summary>
    public static Checked SelfSigned(string hostname, DateTime nowUtc, int days)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest($"CN={hostname}", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostname);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // serverAuth
        using var cert = request.CreateSelfSigned(new DateTimeOffset(nowUtc.AddDays(-1)), new DateTimeOffset(nowUtc.AddDays(days)));
        return new Checked(new string(PemEncoding.Write("CERTIFICATE", cert.RawData)) + "\n", rsa.ExportPkcs8PrivateKeyPem() + "\n",
            cert.NotAfter.ToUniversalTime(), cert.Subject);
    }

    static (Checked?, string, string) Fail(string error, string detail) => (null, error, detail);

    /// <summary>Every CERTIFICATE block in order (leaf first), or null when one of them does not parse.</summary>
    static X509Certificate2Collection? Chain(string pem)
    {
        var chain = new X509Certificate2Collection();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            if (rest[fields.Label].SequenceEqual("CERTIFICATE"))
            {
                var der = new byte[fields.DecodedDataLength];
                if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out _)) return Dispose(chain);
                try { chain.Add(X509CertificateLoader.LoadCertificate(der)); }
                catch (CryptographicException) { return Dispose(chain); }
            }
            rest = rest[fields.Location.End..];
        }
        return chain;
    }

    static X509Certificate2Collection? Dispose(X509Certificate2Collection chain)
    {
        foreach (var cert in chain) cert.Dispose();
        return null;
    }

    static string? PemLabel(string pem)
    {
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label].ToString();
            if (label.EndsWith("PRIVATE KEY", StringComparison.Ordinal)) return label;
            rest = rest[fields.Location.End..];
        }
        return null;
    }

    /// <summary>Imports the PEM key with one algorithm; false when it is not a key of that kind.</summary>
    static bool TryKey(AsymmetricAlgorithm key, string pem, out byte[] spki, out string pkcs8)
    {
        using (key)
        {
            try
            {
                key.ImportFromPem(pem);
                (spki, pkcs8) = (key.ExportSubjectPublicKeyInfo(), key.ExportPkcs8PrivateKeyPem() + "\n");
                return true;
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                (spki, pkcs8) = ([], "");
                return false;
            }
        }
    }
}
