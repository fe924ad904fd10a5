using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailPanel.Core;

/// <summary>One record the operator publishes: names fully qualified, values as a zone file writes them (TXT unquoted).</summary>
internal sealed record DnsRecord(string Type, string Name, string Value, int Ttl, string Purpose);

/// <summary>A DKIM selector of the domain and the TXT value DNS serves for it; <paramref name="Signing"/>: the newest, the one that signs.</summary>
internal sealed record DnsDkimKey(string Selector, string TxtValue, bool Signing);

/// <summary>
/// The DNS records a hosted domain needs, built from the store alone (no lookups): MX, A/AAAA of the
/// mail host when it lies inside the domain, SPF (the server's addresses and the domain's outgoing_ip,
/// then the effective spf_policy), DKIM for each selector, DMARC (the effective dmarc_policy), the
/// RFC 6186 SRV records for submission/IMAP/POP3 and an autoconfig name. Pure.
/// </summary>
internal static class DnsHints
{
    public const int Ttl = 3600;

    /// <summary>The client services and the ports this server offers them on (from the *_LISTEN keys).</summary>
    public sealed record Ports(int Submission = 587, int Imap = 143, int Imaps = 993, int Pop3 = 110, int Pop3s = 995);

    public static List<DnsRecord> For(string domain, string mailHost, IReadOnlyList<string> addresses, string outgoingIp,
        string spfPolicy, string dmarcPolicy, IReadOnlyList<DnsDkimKey> dkim, Ports? ports = null)
    {
        ports ??= new Ports();
        string Fq(string name) => name + ".";
        var host = Fq(mailHost);
        var ips = addresses.Concat(outgoingIp.Length > 0 ? [outgoingIp] : [])
            .Select(a => IPAddress.TryParse(a, out var ip) ? ip : null).OfType<IPAddress>()
            .Distinct().OrderBy(ip => ip.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).ToList();
        var records = new List<DnsRecord> { new("MX", Fq(domain), $"10 {host}", Ttl, "mail for the domain is delivered to this server") };
        if (mailHost == domain || mailHost.EndsWith("." + domain, StringComparison.Ordinal))
            foreach (var ip in ips.Where(ip => addresses.Contains(ip.ToString())))
                records.Add(new(ip.AddressFamily == AddressFamily.InterNetwork ? "A" : "AAAA", host, ip.ToString(), Ttl, "the mail host's address"));
        var spf = new StringBuilder("v=spf1 mx");
        foreach (var ip in ips) spf.Append(ip.AddressFamily == AddressFamily.InterNetwork ? " ip4:" : " ip6:").Append(ip);
        spf.Append(' ').Append(spfPolicy);
        records.Add(new("TXT", Fq(domain), spf.ToString(), Ttl, $"SPF: this server may send for the domain; others: {spfPolicy} (spf_policy)"));
        foreach (var key in dkim)
            records.Add(new("TXT", Fq($"{key.Selector}._domainkey.{domain}"), key.TxtValue, Ttl,
                key.Signing ? "DKIM public key of the key that signs" : "DKIM public key of an older selector (keep it until mail signed with it is delivered)"));
        records.Add(new("TXT", Fq($"_dmarc.{domain}"), $"v=DMARC1; p={dmarcPolicy}; rua=mailto:postmaster@{domain}; adkim=r; aspf=r", Ttl,
            $"DMARC: receivers apply p={dmarcPolicy} (dmarc_policy) to mail failing SPF and DKIM alignment, reports to postmaster"));
        foreach (var (service, port) in new[] { ("_submission._tcp", ports.Submission), ("_imap._tcp", ports.Imap), ("_imaps._tcp", ports.Imaps),
                     ("_pop3._tcp", ports.Pop3), ("_pop3s._tcp", ports.Pop3s) })
            records.Add(new("SRV", Fq($"{service}.{domain}"), $"0 1 {port} {host}", Ttl, "mail client autoconfiguration (RFC 6186)"));
        if (mailHost != $"autoconfig.{domain}")
            records.Add(new("CNAME", Fq($"autoconfig.{domain}"), host, Ttl, "the autoconfig name mail clients try first"));
        return records;
    }

    /// <summary>The records as zone-file lines (TXT values in quoted strings of at most 255 characters).</summary>
    public static string Zone(string domain, IReadOnlyList<DnsRecord> records)
    {
        var zone = new StringBuilder();
        zone.Append(CultureInvariant($"; DNS records for {domain} (MailPanel: GET /api/v1/domains/:id/dns?format=zone).\n"));
        zone.Append("; Add them to the domain's zone; its SOA and NS records are the DNS host's and not included.\n");
        zone.Append(CultureInvariant($"$ORIGIN {domain}.\n$TTL {Ttl}\n"));
        foreach (var r in records)
        {
            var value = r.Type == "TXT" ? Quoted(r.Value) : r.Value;
            zone.Append(CultureInvariant($"{r.Name} {r.Ttl} IN {r.Type} {value}\n"));
        }
        return zone.ToString();
    }

    static string CultureInvariant(FormattableString text) => FormattableString.Invariant(text);

    static string Quoted(string value)
    {
        var parts = new List<string>();
        for (var at = 0; at < value.Length; at += 255) parts.Add(value.Substring(at, Math.Min(255, value.Length - at)));
        return string.Join(' ', parts.Select(p => "\"" + p.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\""));
    }
}
