using System.Reflection;
using System.Reflection.Emit;

namespace MailPanel.Tests;

/// <summary>
/// The layers reference one way only (README "Layout"): each may use the layers below it and never
/// one above. Checked on the compiled daemon, not its source: every type's base type, interfaces,
/// fields, signatures, attributes and every token in every method body (so a lambda, an async
/// state machine or a fully qualified name cannot slip past a `using` check).
/// </summary>
public class LayerTests
{
    /// <summary>Top to bottom. The entry point (Program, Cli) is the namespace MailPanel itself, above all.</summary>
    static readonly string[] Layers = ["MailPanel", "MailPanel.Api", "MailPanel.Rules", "MailPanel.Mail", "MailPanel.Store", "MailPanel.Render", "MailPanel.Sys", "MailPanel.Core"];

    /// <summary>Render is pure (data in, bytes out): besides the layers below it, it must not reach the host.</summary>
    static readonly string[] RenderMustNotUse = ["System.IO.File", "System.IO.Directory", "System.IO.FileStream", "System.IO.FileInfo", "System.IO.DirectoryInfo", "System.Diagnostics.Process", "System.Net.Sockets", "Microsoft.Data.Sqlite", "MailPanel.Sys"];

    static readonly Assembly Daemon = typeof(MailPanel.Api.Errors).Assembly;

    [Fact]
    public void EveryDaemonTypeBelongsToALayer()
    {
        var strays = Daemon.GetTypes().Where(t => !IsGenerated(t) && Rank(t) < 0).Select(t => t.FullName).ToList();
        Assert.Empty(strays);
    }

    [Fact]
    public void NoLayerReferencesALayerAboveIt()
    {
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in Daemon.GetTypes())
        {
            var rank = Rank(type);
            if (rank < 0) continue;
            foreach (var used in References(type))
            {
                var usedRank = Rank(used);
                if (usedRank >= 0 && usedRank < rank) violations.Add($"{Outer(type).FullName} ({Layers[rank]}) uses {Outer(used).FullName} ({Layers[usedRank]})");
            }
        }
        Assert.Empty(violations);
    }

    [Fact]
    public void RenderTouchesNeitherFilesNorProcessesNorTheStore()
    {
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in Daemon.GetTypes().Where(t => Layer(t) == "MailPanel.Render"))
            foreach (var used in References(type))
                if (RenderMustNotUse.Any(p => (used.FullName ?? "").StartsWith(p, StringComparison.Ordinal)))
                    violations.Add($"{Outer(type).FullName} uses {used.FullName}");
        Assert.Empty(violations);
    }

    [Fact]
    public void TheCheckSeesAReferenceInsideAMethodBody()
    {
        // The walk must find what a body uses (not only signatures): Program.Build names the Api layer only in its body.
        Assert.Contains(References(typeof(MailPanel.Program)), t => Layer(t) == "MailPanel.Api");
    }

    static bool IsGenerated(Type t) => t.Namespace is null || t.Namespace.StartsWith("Microsoft", StringComparison.Ordinal) || t.Namespace.StartsWith("System", StringComparison.Ordinal);

    static Type Outer(Type t)
    {
        while (t.DeclaringType is not null) t = t.DeclaringType;
        return t;
    }

    static string? Layer(Type t) => t.IsGenericParameter ? null : Outer(t).Namespace;

    static int Rank(Type t) => t.Assembly != Daemon || t.IsGenericParameter ? -1 : Array.IndexOf(Layers, Layer(t));

    const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>Every type <paramref name="type"/> names, including generic arguments and array elements.</summary>
    static HashSet<Type> References(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null || t.IsGenericParameter || !found.Add(t)) return;
            if (t.HasElementType) Add(t.GetElementType());
            if (t.IsGenericType) foreach (var a in t.GetGenericArguments()) Add(a);
        }
        void AddAttributes(IEnumerable<CustomAttributeData> attributes)
        {
            foreach (var a in attributes)
            {
                Add(a.AttributeType);
                foreach (var arg in a.ConstructorArguments) if (arg.Value is Type t) Add(t);
            }
        }
        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        AddAttributes(type.CustomAttributes);
        foreach (var f in type.GetFields(All)) { Add(f.FieldType); AddAttributes(f.CustomAttributes); }
        foreach (var p in type.GetProperties(All)) Add(p.PropertyType);
        var methods = type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All));
        foreach (var m in methods)
        {
            if (m is MethodInfo mi) Add(mi.ReturnType);
            foreach (var p in m.GetParameters()) Add(p.ParameterType);
            AddAttributes(m.CustomAttributes);
            var body = m.GetMethodBody();
            if (body is null) continue;
            foreach (var local in body.LocalVariables) Add(local.LocalType);
            foreach (var token in Tokens(body.GetILAsByteArray() ?? []))
            {
                try
                {
                    var typeArgs = type.IsGenericType ? type.GetGenericArguments() : null;
                    var methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
                    switch (type.Module.ResolveMember(token, typeArgs, methodArgs))
                    {
                        case Type t: Add(t); break;
                        case MethodBase mb:
                            Add(mb.DeclaringType);
                            if (mb.IsGenericMethod) foreach (var a in mb.GetGenericArguments()) Add(a);
                            break;
                        case FieldInfo fi: Add(fi.DeclaringType); Add(fi.FieldType); break;
                    }
                }
                catch (ArgumentException) { } // a token of another generic context: its types are seen where it is declared
            }
        }
        foreach (var nested in type.GetNestedTypes(All)) found.UnionWith(References(nested));
        return found;
    }

    /// <summary>The metadata tokens (types, methods, fields) an IL body uses.</summary>
    static IEnumerable<int> Tokens(byte[] il)
    {
        var i = 0;
        while (i < il.Length)
        {
            short value = il[i++];
            if (value == 0xFE) value = (short)(0xFE00 | il[i++]);
            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    yield return BitConverter.ToInt32(il, i);
                    i += 4;
                    break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + (4 * BitConverter.ToInt32(il, i)); break;
                default: i += 4; break; // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
            }
        }
    }
}
