using System.Security.Cryptography;
using System.Text;

namespace MailPanel.Core;

/// <summary>
/// DKIM key pairs, made in-process with .NET's RSA (no call to opendkim-genkey), written the way
/// opendkim-genkey writes them: the private key as PKCS#8 PEM, the public key as the TXT record
/// text of its selector.txt.
/// </summary>
internal static class DkimKeys
{
    public const string DefaultSelector = "default";
    public const int Bits = 2048;

    /// <summary>A new key pair: the private key as PKCS#8 PEM, the public key as base64 SubjectPublicKeyInfo (the TXT record's p=).</summary>
    public static (string PrivateKeyPem, string PublicKeyBase64) NewPair()
    {
        using var rsa = RSA.Create(Bits);
        return (rsa.ExportPkcs8PrivateKeyPem() + "\n", Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>
    /// opendkim-genkey's selector.txt, byte for byte (its defaults: h=sha256, no flags): the key data
    /// in quoted strings of 250 characters, each continuation on its own tab-indented line.
    /// </summary>
    public static string Txt(string domain, string selector, string publicKeyBase64)
    {
        var text = new StringBuilder();
        text.Append(selector).Append("._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; \"\n\t  \"p=");
        for (var at = 0; at < publicKeyBase64.Length; at += 250)
        {
            if (publicKeyBase64.Length - at < 250) { text.Append(publicKeyBase64, at, publicKeyBase64.Length - at); break; }
            text.Append(publicKeyBase64, at, 250).Append("\"\n\t  \"");
        }
        text.Append("\" )  ; ----- DKIM key ").Append(selector).Append(" for ").Append(domain).Append('\n');
        return text.ToString();
    }

    /// <summary>The TXT record's value as DNS serves it: the quoted strings joined (what a verifier reads).</summary>
    public static string TxtValue(string record)
    {
        var value = new StringBuilder();
        var parts = record.Split('"');
        for (var i = 1; i < parts.Length; i += 2) value.Append(parts[i]);
        return value.ToString();
    }
}
