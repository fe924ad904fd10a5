using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace MailPanel.Core;

/// <summary>
/// The tier and effective records' source-generated JSON contracts, with the API's conventions
/// (Api/AppJson.cs lists the same types for the HTTP side). Store uses them to read and build
/// those records by field name (<see cref="RowShape{T}"/>), so no code maps a column by position.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = false,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(GlobalConfig))]
[JsonSerializable(typeof(DomainDefaults))]
[JsonSerializable(typeof(MailboxDefaults))]
[JsonSerializable(typeof(DomainOverrides))]
[JsonSerializable(typeof(MailboxOverrides))]
[JsonSerializable(typeof(AntispamConfig))]
[JsonSerializable(typeof(DomainEffective))]
[JsonSerializable(typeof(MailboxEffective))]
internal sealed partial class TierJson : JsonSerializerContext;

/// <summary>The tier and effective records as <see cref="RowShape{T}"/>s.</summary>
internal static class TierRows
{
    public static RowShape<GlobalConfig> GlobalRow { get; } = new(TierJson.Default.GlobalConfig);
    public static RowShape<DomainDefaults> DomainDefaultsRow { get; } = new(TierJson.Default.DomainDefaults);
    public static RowShape<MailboxDefaults> MailboxDefaultsRow { get; } = new(TierJson.Default.MailboxDefaults);
    public static RowShape<DomainOverrides> DomainOverridesRow { get; } = new(TierJson.Default.DomainOverrides);
    public static RowShape<MailboxOverrides> MailboxOverridesRow { get; } = new(TierJson.Default.MailboxOverrides);
    public static RowShape<AntispamConfig> AntispamRow { get; } = new(TierJson.Default.AntispamConfig);
    public static RowShape<DomainEffective> DomainEffectiveRow { get; } = new(TierJson.Default.DomainEffective);
    public static RowShape<MailboxEffective> MailboxEffectiveRow { get; } = new(TierJson.Default.MailboxEffective);
}

/// <summary>
/// A record seen through its source-generated JSON contract: values read by JSON name (the
/// generated getters), and a record built from named values (written as a JSON object, then
/// deserialized by the generated code, so required members and types are checked as for a request).
/// AOT- and trim-safe: no reflection.
/// </summary>
internal sealed class RowShape<T> where T : class
{
    readonly JsonTypeInfo<T> type;
    readonly Dictionary<string, Func<object, object?>> getters;

    public RowShape(JsonTypeInfo<T> type)
    {
        this.type = type;
        getters = type.Properties.ToDictionary(p => p.Name, p => p.Get!, StringComparer.Ordinal);
    }

    /// <summary>The JSON property names, in JSON order.</summary>
    public IReadOnlyList<string> Names => [.. type.Properties.Select(p => p.Name)];

    public object? Get(T row, string name) => getters[name](row);

    /// <summary>The row's values of <paramref name="fields"/>, in their order.</summary>
    public object?[] Values(T row, IReadOnlyList<TierField> fields)
    {
        var values = new object?[fields.Count];
        for (var i = 0; i < values.Length; i++) values[i] = getters[fields[i].Name](row);
        return values;
    }

    /// <summary>Builds a record from the properties <paramref name="write"/> writes (names as in JSON).</summary>
    public T Build(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }
        return JsonSerializer.Deserialize(buffer.WrittenSpan, type)!;
    }

    /// <summary>Builds a record from <paramref name="fields"/> and their values, in order.</summary>
    public T Build(IReadOnlyList<TierField> fields, object?[] values) => Build(json =>
    {
        for (var i = 0; i < fields.Count; i++) Write(json, fields[i].Name, values[i]);
    });

    /// <summary>One named value: null, a long, a bool, a double or a string (the four column kinds).</summary>
    public static void Write(Utf8JsonWriter json, string name, object? value)
    {
        json.WritePropertyName(name);
        WriteValue(json, value);
    }

    public static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case long l: json.WriteNumberValue(l); break;
            case bool b: json.WriteBooleanValue(b); break;
            case double d: json.WriteNumberValue(d); break;
            case string s: json.WriteStringValue(s); break;
            default: throw new ArgumentException($"unsupported value type {value.GetType().Name}");
        }
    }
}
