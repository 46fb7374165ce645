using System.CommandLine;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Get;

/// <summary>
/// <c>--field-selector key=value[,key!=value]</c> and <c>--pool NAME</c>: filters on spec fields,
/// applied to the listed items here (the server selects on labels only). A backend's pool is a
/// field, not a label, which is why <c>-l pool=web</c> finds nothing.
/// </summary>
internal static class FieldSelector
{
    public static Option<string[]> CreateOption() => new("--field-selector")
    {
        Description = "Field selector, field=value or field!=value, comma-separated (fields per kind: see lbctl's README)",
        HelpName = "SELECTOR",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Option<string?> CreatePoolOption() => new("--pool")
    {
        Description = "Only the backends of this pool (same as --field-selector pool=NAME)",
        HelpName = "NAME",
    };

    /// <summary>The fields each kind can be selected on, read as a user sees them in get (defaults filled in).</summary>
    private static readonly Dictionary<string, Dictionary<string, Func<IMessage, string>>> Fields = new(StringComparer.Ordinal)
    {
        ["Backend"] = new(StringComparer.Ordinal)
        {
            ["pool"] = m => ((Backend)m).Spec?.Pool ?? "",
            ["state"] = m => ((Backend)m).Spec?.State is { Length: > 0 } s ? s : "enabled",
            ["address"] = m => ((Backend)m).Spec?.Address ?? "",
            ["health"] = m => ((Backend)m).Status?.Health ?? "",
        },
        ["Pool"] = new(StringComparer.Ordinal)
        {
            ["protocol"] = m => ((Pool)m).Spec?.Protocol ?? "",
            ["algorithm"] = m => ((Pool)m).Spec?.Algorithm ?? "",
        },
        ["Listener"] = new(StringComparer.Ordinal)
        {
            ["tier"] = m => ((Listener)m).Spec?.Tier ?? "",
            ["protocol"] = m => ((Listener)m).Spec?.Protocol ?? "",
            ["pool"] = m => ((Listener)m).Spec?.Pool ?? "",
        },
        ["Certificate"] = new(StringComparer.Ordinal),
        ["Agent"] = new(StringComparer.Ordinal)
        {
            ["tier"] = m => ((Agent)m).Spec?.Tier ?? "",
            ["status"] = m => ResourceTables.AgentPhase(((Agent)m).Status),
        },
    };

    public sealed record Term(string Field, string Value, bool Negated);

    /// <summary>Parses the selector terms (and --pool) for KIND; a field the kind does not have is a usage error naming it.</summary>
    public static IReadOnlyList<Term> Parse(ApiKind kind, string[]? selectors, string? pool)
    {
        var known = Fields.GetValueOrDefault(kind.Kind) ?? [];
        var names = new[] { "name" }.Concat(known.Keys).ToList();
        var terms = new List<Term>();
        foreach (var text in (selectors ?? []).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var negated = text.Contains("!=", StringComparison.Ordinal);
            var parts = negated ? text.Split("!=", 2) : text.Split(text.Contains("==", StringComparison.Ordinal) ? "==" : "=", 2);
            var field = parts[0].Trim();
            // "spec.pool" and "metadata.name" as kubectl spells them, or the bare field.
            field = field.StartsWith("spec.", StringComparison.Ordinal) ? field[5..] : field == "metadata.name" ? "name" : field;
            if (parts.Length != 2 || field.Length == 0)
            {
                throw new UsageException($"invalid field selector \"{text}\": expected field=value or field!=value");
            }
            if (!names.Contains(field, StringComparer.Ordinal))
            {
                throw new UsageException($"--field-selector: {kind.Plural} have no field \"{field}\"; fields: {string.Join(", ", names)}");
            }
            terms.Add(new Term(field, parts[1].Trim(), negated));
        }
        if (pool is not null)
        {
            if (kind.Kind != "Backend")
            {
                throw new UsageException($"--pool selects backends only, not {kind.Plural}");
            }
            if (pool.Length == 0)
            {
                throw new UsageException("--pool: a pool name is required");
            }
            terms.Add(new Term("pool", pool, Negated: false));
        }
        return terms;
    }

    public static bool Matches(ApiKind kind, IMessage item, IReadOnlyList<Term> terms) => terms.All(t =>
    {
        var actual = t.Field == "name" ? ApiKind.NameOf(item) : Fields[kind.Kind][t.Field](item);
        return string.Equals(actual, t.Value, StringComparison.Ordinal) != t.Negated;
    });
}
