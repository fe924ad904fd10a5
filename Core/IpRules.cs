using System.Net;
using System.Net.Sockets;

namespace MailPanel.Core;

/// <summary>IP / CIDR allow-lists (admin-login and API-key whitelists). Empty = anyone.</summary>
internal sealed class IpRules
{
    readonly IPNetwork[] networks;

    public IpRules(IEnumerable<string> rules)
    {
        var list = new List<IPNetwork>();
        foreach (var rule in rules)
            if (TryParseRule(rule, out var n)) list.Add(n);
            else throw new ArgumentException($"invalid IP/CIDR '{rule}'", nameof(rules));
        networks = [.. list];
    }

    public bool AllowsAll => networks.Length == 0;

    public bool Allows(IPAddress? address)
    {
        if (networks.Length == 0) return true;
        if (address is null) return false;
        address = Normalize(address);
        foreach (var n in networks)
            if (n.Contains(address)) return true;
        return false;
    }

    /// <summary>"203.0.113.7", "2001:db8::1", "10.0.0.0/8" or "[::1]/128"; host bits past the prefix are refused.</summary>
    public static bool TryParseRule(string rule, out IPNetwork network)
    {
        network = default;
        var text = rule.Trim();
        if (text.Length == 0) return false;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) return false;
            text = text[1..close] + text[(close + 1)..];
        }
        if (!text.Contains('/', StringComparison.Ordinal))
        {
            if (!IPAddress.TryParse(text, out var ip) || !IsPlainLiteral(text)) return false;
            ip = Normalize(ip);
            network = new IPNetwork(ip, ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        // .NET 10's IPNetwork.TryParse silently masks host bits ("10.0.0.1/8" -> 10.0.0.0/8); Postfix
        // refuses such entries, so they are refused here too.
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return IPNetwork.TryParse(text, out network) && IsPlainLiteral(text[..slash])
            && IPAddress.TryParse(text[..slash], out var address) && address.Equals(network.BaseAddress);
    }

    /// <summary>IPAddress.TryParse accepts "1", "0x7f.1" and scope ids; a rule must be a plain dotted quad or IPv6 literal.</summary>
    static bool IsPlainLiteral(string text) =>
        text.Contains(':', StringComparison.Ordinal)
            ? !text.Contains('%', StringComparison.Ordinal)
            : text.Split('.').Length == 4 && text.All(c => char.IsAsciiDigit(c) || c == '.');

    public static IPAddress Normalize(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Whether a client address (as Postfix reports it) falls in a space-separated list of rules such as relay_networks.</summary>
    public static bool InList(string clientAddress, string rules) =>
        IPAddress.TryParse(clientAddress, out var ip) && rules.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Any(rule => TryParseRule(rule, out var network) && network.Contains(Normalize(ip)));
}
