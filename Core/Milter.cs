using System.Buffers.Binary;
using System.Text;

namespace MailPanel.Core;

/// <summary>One packet of the Sendmail milter protocol: a command (or reply) byte and its data.</summary>
internal readonly record struct MilterPacket(byte Command, byte[] Data);

/// <summary>The connect command's data: the client's name, its address family ('4', '6', 'L', 'U'), port and address.</summary>
internal sealed record MilterConnect(string Hostname, char Family, int Port, string Address);

/// <summary>
/// The Sendmail milter protocol, version 6, as Postfix speaks it (libmilter's mfdef.h and
/// Postfix's src/milter/milter8.c are the reference): every packet is a 4-byte big-endian length
/// (the command byte plus its data), the command byte, then the data; strings are NUL-terminated.
/// Pure encoding and decoding: the socket loop lives in Api/MilterServer.cs.
/// </summary>
internal static class Milter
{
    public const uint Version = 6;

    /// <summary>Larger packets are not Postfix (body chunks are at most 64 KiB, a header at most header_size_limit).</summary>
    public const int MaxPacket = 1 << 20;

    // ---- commands (MTA -> milter) ----
    public const byte Abort = (byte)'A', Body = (byte)'B', Connect = (byte)'C', Macro = (byte)'D', EndOfBody = (byte)'E',
        Helo = (byte)'H', QuitNewConnection = (byte)'K', Header = (byte)'L', Mail = (byte)'M', EndOfHeaders = (byte)'N',
        OptionNegotiation = (byte)'O', Quit = (byte)'Q', Rcpt = (byte)'R', Data = (byte)'T', Unknown = (byte)'U';

    // ---- replies (milter -> MTA) ----
    public const byte Accept = (byte)'a', Continue = (byte)'c', Discard = (byte)'d', Reject = (byte)'r', Tempfail = (byte)'t',
        ReplyCode = (byte)'y', AddHeader = (byte)'h', ChangeHeader = (byte)'m', DeleteRcpt = (byte)'-';

    // ---- the actions a milter may take (SMFIF_*) ----
    public const uint ActionAddHeaders = 0x01, ActionDeleteRcpt = 0x08, ActionChangeHeaders = 0x10;

    // ---- protocol steps the MTA may leave out (SMFIP_*) ----
    public const uint NoHelo = 0x02, NoUnknown = 0x100, NoData = 0x200;

    /// <summary>Reads one packet; null at a clean end of stream. A truncated or oversized packet throws <see cref="InvalidDataException"/>.</summary>
    public static async Task<MilterPacket?> Read(Stream stream, CancellationToken cancel)
    {
        var header = new byte[4];
        var got = await ReadUpTo(stream, header, cancel);
        if (got == 0) return null;
        if (got < 4) throw new InvalidDataException("milter: truncated length");
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length == 0 || length > MaxPacket) throw new InvalidDataException($"milter: packet length {length}");
        var body = new byte[length];
        if (await ReadUpTo(stream, body, cancel) < length) throw new InvalidDataException("milter: truncated packet");
        return new MilterPacket(body[0], body[1..]);
    }

    static async Task<int> ReadUpTo(Stream stream, byte[] buffer, CancellationToken cancel)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancel);
            if (n == 0) break;
            read += n;
        }
        return read;
    }

    /// <summary>One packet on the wire.</summary>
    public static byte[] Encode(byte command, ReadOnlySpan<byte> data = default)
    {
        var packet = new byte[5 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(packet, (uint)(data.Length + 1));
        packet[4] = command;
        data.CopyTo(packet.AsSpan(5));
        return packet;
    }

    /// <summary>The NUL-terminated strings of a packet's data (a missing final NUL still ends the last one).</summary>
    public static List<string> Strings(ReadOnlySpan<byte> data)
    {
        var list = new List<string>();
        while (data.Length > 0)
        {
            var nul = data.IndexOf((byte)0);
            var end = nul < 0 ? data.Length : nul;
            list.Add(Encoding.UTF8.GetString(data[..end]));
            data = nul < 0 ? [] : data[(nul + 1)..];
        }
        return list;
    }

    static byte[] Cstrings(params string[] values)
    {
        using var buffer = new MemoryStream();
        foreach (var v in values)
        {
            buffer.Write(Encoding.UTF8.GetBytes(v));
            buffer.WriteByte(0);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// A header packet (name NUL value NUL) as its name and its message line(s): "Name: value" with
    /// CRLF line ends (Postfix sends a folded value with bare LFs), bytes kept as they are.
    /// </summary>
    public static (string Name, byte[] Line) RawHeader(ReadOnlySpan<byte> data)
    {
        var nul = data.IndexOf((byte)0);
        var name = nul < 0 ? data : data[..nul];
        var value = nul < 0 ? [] : data[(nul + 1)..];
        if (value.Length > 0 && value[^1] == 0) value = value[..^1];
        using var line = new MemoryStream(name.Length + value.Length + 8);
        line.Write(name);
        line.Write(": "u8);
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) line.WriteByte((byte)'\r');
            line.WriteByte(value[i]);
        }
        line.Write("\r\n"u8);
        return (Encoding.UTF8.GetString(name), line.ToArray());
    }

    /// <summary>The option negotiation's three words: version, actions, protocol flags.</summary>
    public static (uint Version, uint Actions, uint Protocol) ParseOptions(ReadOnlySpan<byte> data)
    {
        if (data.Length < 12) throw new InvalidDataException("milter: short option negotiation");
        return (BinaryPrimitives.ReadUInt32BigEndian(data), BinaryPrimitives.ReadUInt32BigEndian(data[4..]), BinaryPrimitives.ReadUInt32BigEndian(data[8..]));
    }

    public static byte[] Options(uint version, uint actions, uint protocol)
    {
        var data = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(data, version);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), actions);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), protocol);
        return Encode(OptionNegotiation, data);
    }

    /// <summary>A macro packet: the command it belongs to, then name/value pairs ("{auth_authen}" keeps its braces).</summary>
    public static (byte For, Dictionary<string, string> Values) ParseMacros(ReadOnlySpan<byte> data)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (data.Length == 0) return (0, values);
        var strings = Strings(data[1..]);
        for (var i = 0; i + 1 < strings.Count; i += 2) values[strings[i]] = strings[i + 1];
        return (data[0], values);
    }

    public static MilterConnect ParseConnect(ReadOnlySpan<byte> data)
    {
        var nul = data.IndexOf((byte)0);
        if (nul < 0 || nul + 1 >= data.Length) throw new InvalidDataException("milter: bad connect packet");
        var host = Encoding.UTF8.GetString(data[..nul]);
        var family = (char)data[nul + 1];
        var rest = data[(nul + 2)..];
        if (family == 'U' || rest.Length < 2) return new MilterConnect(host, family, 0, "");
        var port = BinaryPrimitives.ReadUInt16BigEndian(rest);
        var strings = Strings(rest[2..]);
        return new MilterConnect(host, family, port, strings.Count > 0 ? strings[0] : "");
    }

    /// <summary>The address of a MAIL or RCPT command (its first argument) without the angle brackets.</summary>
    public static string Address(ReadOnlySpan<byte> data)
    {
        var strings = Strings(data);
        var address = strings.Count > 0 ? strings[0].Trim() : "";
        return address.StartsWith('<') && address.EndsWith('>') ? address[1..^1] : address;
    }

    public static byte[] Reply(byte command) => Encode(command);

    /// <summary>"550 5.7.1 text": the SMTP reply Postfix gives the client. A '%' would be a format character to libmilter; Postfix takes the text as is.</summary>
    public static byte[] Code(string reply) => Encode(ReplyCode, Cstrings(reply.Replace("\r", "", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal)));

    public static byte[] AddHeaderReply(string name, string value) => Encode(AddHeader, Cstrings(name, value));

    /// <summary>Changes the <paramref name="index"/>-th (1-based) header called <paramref name="name"/>; an empty value deletes it.</summary>
    public static byte[] ChangeHeaderReply(int index, string name, string value)
    {
        var strings = Cstrings(name, value);
        var data = new byte[4 + strings.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)index);
        strings.CopyTo(data, 4);
        return Encode(ChangeHeader, data);
    }

    public static byte[] DeleteRcptReply(string address) => Encode(DeleteRcpt, Cstrings("<" + address + ">"));
}
