using System.Reflection;
using System.Reflection.Emit;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Tests.Store;

/// <summary>
/// The store seam holds: no type of the control plane outside <c>LoadBalancer.ControlPlane.Store</c>
/// (and its sub-namespaces) names EF Core, Microsoft.Data.Sqlite or <see cref="LbDbContext"/>, in
/// its signatures or in its method bodies (the IL's type, method and field tokens, locals and
/// catch clauses), so a second store (PostgreSQL) plugs in behind the Store interfaces alone;
/// and the store and validation raise their own refusals, not gRPC statuses.
/// </summary>
public sealed class StoreSeamTests
{
    private const string StoreNamespace = "LoadBalancer.ControlPlane.Store";
    private static readonly string[] ForbiddenNamespaces = ["Microsoft.EntityFrameworkCore", "Microsoft.Data.Sqlite"];

    [Fact]
    public void NoTypeOutsideStore_ReferencesEfCoreOrSqlite()
    {
        var offenders = Scan(t => !InNamespace(t, StoreNamespace), Forbidden);
        Assert.True(offenders.Count == 0, $"{offenders.Count} uses outside the store seam:\n" + string.Join("\n", offenders.Take(200)));
    }

    [Fact]
    public void StoreAndValidation_RaiseNoGrpcStatus()
    {
        // Their refusals are their own exceptions; Hosting/RpcErrors maps them at the API edge.
        var offenders = Scan(t => InNamespace(t, StoreNamespace) || InNamespace(t, "LoadBalancer.ControlPlane.Validation"), IsGrpcStatus);
        Assert.True(offenders.Count == 0, $"{offenders.Count} uses of gRPC statuses in Store or Validation:\n" + string.Join("\n", offenders.Take(200)));
    }

    [Fact]
    public void TheCheck_SeesUsesInMethodBodies()
    {
        // The scanner itself: a body that only news up a forbidden type is found.
        var found = Offences(typeof(BodyOnly), Forbidden).ToList();
        Assert.Contains(found, o => o.Contains("SqliteConnection", StringComparison.Ordinal));
        Assert.Contains(found, o => o.Contains("DbUpdateException", StringComparison.Ordinal));
    }

    private static class BodyOnly
    {
        public static object Make() => new Microsoft.Data.Sqlite.SqliteConnection();

        public static bool Filter(Exception ex) => ex is Microsoft.EntityFrameworkCore.DbUpdateException;
    }

    private static List<string> Scan(Func<Type, bool> scanned, Func<Type?, bool> forbidden) =>
        typeof(LbDbContext).Assembly.GetTypes()
            .Where(scanned)
            .SelectMany(t => Offences(t, forbidden))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();

    private static bool InNamespace(Type type, string root) =>
        type.Namespace is { } ns && (ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal));

    private static bool Forbidden(Type? type) => Mentions(type, t => t == typeof(LbDbContext) || ForbiddenNamespaces.Any(f => InNamespace(t, f)));

    private static bool IsGrpcStatus(Type? type) =>
        Mentions(type, t => t == typeof(Grpc.Core.RpcException) || t == typeof(Grpc.Core.Status) || t == typeof(Grpc.Core.StatusCode) || InNamespace(t, "Google.Rpc"));

    /// <summary>Whether <paramref name="type"/>, its element type or any of its generic arguments is <paramref name="match"/>.</summary>
    private static bool Mentions(Type? type, Func<Type, bool> match)
    {
        if (type is null)
        {
            return false;
        }
        if (type.HasElementType)
        {
            return Mentions(type.GetElementType(), match);
        }
        return match(type)
            || (type.IsConstructedGenericType && (Mentions(type.GetGenericTypeDefinition(), match) || type.GetGenericArguments().Any(a => Mentions(a, match))));
    }

    private static IEnumerable<string> Offences(Type type, Func<Type?, bool> forbidden)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var name = type.FullName ?? type.Name;
        if (forbidden(type.BaseType))
        {
            yield return $"{name}: base type {type.BaseType}";
        }
        foreach (var i in type.GetInterfaces().Where(forbidden))
        {
            yield return $"{name}: implements {i}";
        }
        foreach (var field in type.GetFields(all).Where(f => forbidden(f.FieldType)))
        {
            yield return $"{name}.{field.Name}: field of type {field.FieldType}";
        }
        foreach (var property in type.GetProperties(all).Where(p => forbidden(p.PropertyType)))
        {
            yield return $"{name}.{property.Name}: property of type {property.PropertyType}";
        }
        foreach (var method in type.GetConstructors(all).Cast<MethodBase>().Concat(type.GetMethods(all)))
        {
            var where = $"{name}.{method.Name}";
            if (method is MethodInfo info && forbidden(info.ReturnType))
            {
                yield return $"{where}: returns {info.ReturnType}";
            }
            foreach (var parameter in method.GetParameters().Where(p => forbidden(p.ParameterType)))
            {
                yield return $"{where}: parameter {parameter.Name} of type {parameter.ParameterType}";
            }
            foreach (var offence in BodyOffences(method, forbidden))
            {
                yield return $"{where}: {offence}";
            }
        }
    }

    private static IEnumerable<string> BodyOffences(MethodBase method, Func<Type?, bool> forbidden)
    {
        var body = method.GetMethodBody();
        if (body is null)
        {
            yield break;
        }
        foreach (var local in body.LocalVariables.Where(l => forbidden(l.LocalType)))
        {
            yield return $"local of type {local.LocalType}";
        }
        foreach (var clause in body.ExceptionHandlingClauses.Where(c => c.Flags == ExceptionHandlingClauseOptions.Clause && forbidden(c.CatchType)))
        {
            yield return $"catches {clause.CatchType}";
        }
        var il = body.GetILAsByteArray() ?? [];
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        foreach (var token in MemberTokens(il))
        {
            MemberInfo? member;
            try
            {
                member = method.Module.ResolveMember(token, typeArgs, methodArgs);
            }
            catch (ArgumentException)
            {
                continue;
            }
            var used = member switch
            {
                Type t => [t],
                FieldInfo f => [f.DeclaringType, f.FieldType],
                MethodInfo m => new[] { m.DeclaringType, m.ReturnType }.Concat(m.GetParameters().Select(p => p.ParameterType)).Concat(m.IsGenericMethod ? m.GetGenericArguments() : []),
                MethodBase c => new[] { c.DeclaringType }.Concat(c.GetParameters().Select(p => p.ParameterType)),
                _ => [],
            };
            foreach (var type in used.Where(forbidden))
            {
                yield return $"uses {type} ({member!.Name})";
            }
        }
    }

    private static readonly OpCode[] OneByte = new OpCode[0x100];
    private static readonly OpCode[] TwoByte = new OpCode[0x100];

    static StoreSeamTests()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var code = (OpCode)field.GetValue(null)!;
            var value = (ushort)code.Value;
            if (code.Size == 1)
            {
                OneByte[value] = code;
            }
            else
            {
                TwoByte[value & 0xff] = code;
            }
        }
    }

    /// <summary>The metadata tokens of the IL's method, field, type and ldtoken operands.</summary>
    private static IEnumerable<int> MemberTokens(byte[] il)
    {
        var i = 0;
        while (i < il.Length)
        {
            var code = il[i] == 0xFE ? TwoByte[il[++i]] : OneByte[il[i]];
            i++;
            switch (code.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineType or OperandType.InlineTok:
                    yield return BitConverter.ToInt32(il, i);
                    i += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + (4 * BitConverter.ToInt32(il, i));
                    break;
                default:
                    i += 4;
                    break;
            }
        }
    }
}
