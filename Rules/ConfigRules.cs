using MailPanel.Core;
using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>
/// The tiers' field rules and canonical spellings, applied field by field from each field's
/// <see cref="Rule"/> and <see cref="Norm"/> in <see cref="TierFields"/>. Check returns the first
/// failure (naming the field) or null. In an override row null means inherit and is always fine; in
/// a defaults row a null text is "required" unless the field inherits (its seed is NULL).
/// </summary>
internal static class ConfigRules
{
    /// <param name="values">The values of <paramref name="fields"/>, in their order.</param>
    /// <param name="overrides">True for an override row: null is inherit.</param>
    public static string? Check(IReadOnlyList<TierField> fields, object?[] values, bool overrides)
    {
        for (var i = 0; i < fields.Count; i++)
            if (Check(fields[i], values[i], fields, values, nullAllowed: overrides || fields[i].Inherits) is { } error) return error;
        return null;
    }

    // The backup check's entry points: a whole row of each kind.

    public static string? Check(GlobalConfig g) => Check(TierFields.Global.Fields, ConfigStore.Global.Values(g), false);

    public static string? Check(DomainDefaults d) => Check(TierFields.Domain.Fields, ConfigStore.DomainDefaults.Values(d), false);

    public static string? Check(MailboxDefaults m) => Check(TierFields.Mailbox.Fields, ConfigStore.MailboxDefaults.Values(m), false);

    public static string? Check(DomainOverrides o) => Check(TierFields.Domain.Overridable, ConfigStore.DomainOverrides.Values(o), true);

    public static string? Check(MailboxOverrides o) => Check(TierFields.Mailbox.Overridable, ConfigStore.MailboxOverrides.Values(o), true);

    /// <summary>The values in their canonical spelling (a new array; null stays null).</summary>
    public static object?[] Normalize(IReadOnlyList<TierField> fields, object?[] values)
    {
        var result = (object?[])values.Clone();
        for (var i = 0; i < fields.Count; i++)
            result[i] = Normalize(fields[i], result[i]);
        return result;
    }

    public static object? Normalize(TierField field, object? value) => value is string text ? Normalize(field.Norm, text) : value;

    static string Normalize(Norm norm, string text) => norm switch
    {
        Norm.Words => Words(text),
        Norm.WordsLower => Words(text).ToLowerInvariant(),
        Norm.TrimLower => text.Trim().ToLowerInvariant(),
        // "" stays "" (no forwarding); a list becomes "a@x, b@y" (see Validate.AddressList).
        Norm.AddressList => string.IsNullOrWhiteSpace(text) ? text.Trim() : Validate.AddressList(text, out _)!,
        _ => text,
    };

    static string Words(string value) => string.Join(' ', value.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    static string? Check(TierField field, object? value, IReadOnlyList<TierField> fields, object?[] values, bool nullAllowed)
    {
        var rule = field.Rule;
        if (value is null)
        {
            if (nullAllowed || field.Kind != ColumnKind.Text) return null; // a null number or bool never gets past the JSON reader
            if (rule?.Kind != RuleKind.OneOf) return $"{field.Name} is required";
        }
        if (rule is null) return null;
        var name = field.Name;
        var text = value as string;
        switch (rule.Kind)
        {
            case RuleKind.Range:
                return value is double d ? Validate.Range(name, d, rule.Min, rule.Max) : Validate.Range(name, (long)value!, rule.Min, rule.Max);
            case RuleKind.OneOf: return Validate.OneOf(name, text, rule.Allowed!);
            case RuleKind.Networks: return Validate.NetworkList(name, text, allowEmpty: false);
            case RuleKind.NetworksOrEmpty: return Validate.NetworkList(name, text, allowEmpty: true);
            case RuleKind.Zones: return Validate.DomainList(name, text);
            case RuleKind.Host:
                var host = text!.Trim();
                return host.Length == 0 || Validate.IsHostName(host) || Validate.IsIpLiteral(host)
                    ? null
                    : $"{name} must be empty, a host name or an IP address";
            case RuleKind.Greylist:
                for (var i = 0; i < fields.Count; i++)
                    if (fields[i].Rule?.Kind == RuleKind.Greylist && values[i] is long n && n < 0)
                        return "greylist delay and max-age must be non-negative";
                return Validate.Range(name, (long)value!, rule.Min, rule.Max);
            case RuleKind.Vacation:
                return text!.Length > ConfigLimits.MaxVacationMessage ? $"{name} must be at most {ConfigLimits.MaxVacationMessage} characters"
                    : !Validate.IsPlainText(text) ? $"{name} must not contain control characters other than tab and line breaks"
                    : null;
            case RuleKind.AddressList:
                if (text!.Trim().Length == 0) return null;
                Validate.AddressList(text, out var error);
                return error is null ? null : $"{name}: {error}";
            default: return null;
        }
    }
}
