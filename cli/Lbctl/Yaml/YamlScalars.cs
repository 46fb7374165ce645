using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadBalancer.Cli.Yaml;

/// <summary>
/// How a plain (unquoted) scalar is typed: the YAML 1.2 core schema. YAML 1.1 extras such as
/// yes/no or sexagesimal numbers are deliberately not recognised, so "no" stays a string.
/// </summary>
internal static partial class YamlScalars
{
    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex DecimalInteger();

    [GeneratedRegex(@"^0x[0-9a-fA-F]+$")]
    private static partial Regex HexInteger();

    [GeneratedRegex(@"^0o[0-7]+$")]
    private static partial Regex OctalInteger();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    [GeneratedRegex(@"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$")]
    private static partial Regex SpecialFloat();

    public static bool IsNull(string value) => value is "" or "~" or "null" or "Null" or "NULL";

    public static bool TryBool(string value, out bool result)
    {
        switch (value)
        {
            case "true" or "True" or "TRUE": result = true; return true;
            case "false" or "False" or "FALSE": result = false; return true;
            default: result = false; return false;
        }
    }

    public static bool IsInteger(string value) =>
        DecimalInteger().IsMatch(value) || HexInteger().IsMatch(value) || OctalInteger().IsMatch(value);

    public static bool IsFloat(string value) => Float().IsMatch(value) || SpecialFloat().IsMatch(value);

    /// <summary>True when a plain scalar with this text would not read back as a string.</summary>
    public static bool NeedsQuotes(string value) =>
        IsNull(value) || TryBool(value, out _) || IsInteger(value) || IsFloat(value);

    /// <summary>Integer text (decimal, 0x, 0o) to a number; also used for quoted integers.</summary>
    public static bool TryInteger(string value, out decimal result)
    {
        result = 0;
        if (DecimalInteger().IsMatch(value))
        {
            return decimal.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result);
        }
        if (HexInteger().IsMatch(value) && ulong.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
        {
            result = hex;
            return true;
        }
        if (OctalInteger().IsMatch(value))
        {
            try
            {
                result = Convert.ToUInt64(value[2..], 8);
                return true;
            }
            catch (OverflowException)
            {
                return false;
            }
        }
        return false;
    }

    public static bool TryFloat(string value, out double result)
    {
        switch (value)
        {
            case ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF": result = double.PositiveInfinity; return true;
            case "-.inf" or "-.Inf" or "-.INF": result = double.NegativeInfinity; return true;
            case ".nan" or ".NaN" or ".NAN": result = double.NaN; return true;
        }
        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result);
    }
}
