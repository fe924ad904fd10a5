using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace MailPanel.Sys;

/// <summary>Facts read off the host: its addresses, free disk space, OS name.</summary>
internal static class HostInfo
{
    /// <summary>Unicast addresses of interfaces that are up, minus loopback and link-local, IPv4 first.</summary>
    public static List<string> OutboundAddresses()
    {
        var list = new List<IPAddress>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus == OperationalStatus.Down || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback) continue;
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                var ip = unicast.Address;
                if (IPAddress.IsLoopback(ip) || ip.IsIPv6LinkLocal || ip.IsIPv6Multicast) continue;
                if (ip.AddressFamily == AddressFamily.InterNetwork && ip.GetAddressBytes() is [169, 254, ..]) continue; // IPv4 link-local
                if (ip.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)) continue;
                list.Add(ip);
            }
        }
        return [.. list.OrderBy(ip => ip.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).Select(ip => ip.ToString()).Distinct()];
    }

    /// <summary>Bytes free to an unprivileged writer on the filesystem holding <paramref name="path"/>; null if unreadable.</summary>
    public static long? FreeBytes(string path)
    {
        try
        {
            return new DriveInfo(path).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Free (to an unprivileged writer) and total bytes of the filesystem holding <paramref name="path"/>; null if unreadable.</summary>
    public static (long Free, long Total)? Disk(string path)
    {
        try
        {
            if (!Directory.Exists(path)) return null;
            var drive = new DriveInfo(path);
            return (drive.AvailableFreeSpace, drive.TotalSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>PRETTY_NAME from os-release, as `hostnamectl` shows it.</summary>
    public static string OsName(string sysRootOsRelease)
    {
        foreach (var path in new[] { sysRootOsRelease, "/etc/os-release" })
        {
            if (!File.Exists(path)) continue;
            foreach (var line in File.ReadLines(path))
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) return line[12..].Trim('"');
        }
        return Environment.OSVersion.VersionString;
    }

    public static string HostName() => Dns.GetHostName();

    /// <summary>"412G"-style human size, as df -h prints it.</summary>
    public static string HumanBytes(long bytes)
    {
        string[] units = ["B", "K", "M", "G", "T", "P"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes}B" : value >= 10 ? $"{Math.Floor(value):0}{units[unit]}" : $"{value:0.#}{units[unit]}";
    }
}
