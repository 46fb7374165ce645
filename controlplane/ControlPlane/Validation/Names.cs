using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>Syntax rules for names, hostnames, label keys, HTTP tokens and addresses.</summary>
public static partial class Names
{
    public const int MaxNameLength = 63;

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabelRegex();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelNameRegex();

    public static bool IsDnsLabel(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxNameLength && DnsLabelRegex().IsMatch(value);

    /// <summary>A DNS name of labels joined by dots (lowercase), at most 253 characters.</summary>
    public static bool IsHostname(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 253)
        {
            return false;
        }
        foreach (var label in value.Split('.'))
        {
            if (!IsDnsLabel(label))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>An exact hostname or a wildcard "*.domain" (the domain having at least two labels).</summary>
    public static bool IsRouteHost(string? value)
    {
        if (value is null)
        {
            return false;
        }
        if (value.StartsWith("*.", StringComparison.Ordinal))
        {
            var rest = value[2..];
            return IsHostname(rest) && rest.Contains('.', StringComparison.Ordinal);
        }
        return IsHostname(value);
    }

    /// <summary>Kubernetes label key: optional DNS-subdomain prefix and '/', then a name; at most 63 characters.</summary>
    public static bool IsLabelKey(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 63)
        {
            return false;
        }
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            return IsHostname(key[..slash]) && LabelNameRegex().IsMatch(key[(slash + 1)..]);
        }
        return LabelNameRegex().IsMatch(key);
    }

    public static bool IsLabelValue(string? value) =>
        value is not null && value.Length <= 63 && (value.Length == 0 || LabelNameRegex().IsMatch(value));

    /// <summary>RFC 7230 token (also the RFC 6265 cookie-name grammar).</summary>
    public static bool IsHttpToken(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 256)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Splits "host:port" (IPv4, [IPv6] or DNS hostname); returns an error description or null.</summary>
    public static string? TryParseAddress(string address, out string host, out int port)
    {
        host = "";
        port = 0;
        if (string.IsNullOrEmpty(address))
        {
            return "required, as host:port";
        }
        string portText;
        if (address.StartsWith('['))
        {
            var close = address.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return "an IPv6 address must be written as [address]:port";
            }
            host = address[1..close];
            if (!IPAddress.TryParse(host, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return $"'{host}' is not an IPv6 address";
            }
            var rest = address[(close + 1)..];
            if (!rest.StartsWith(':'))
            {
                return "missing port: expected host:port";
            }
            portText = rest[1..];
        }
        else
        {
            var colon = address.LastIndexOf(':');
            if (colon < 0)
            {
                return "missing port: expected host:port";
            }
            host = address[..colon];
            portText = address[(colon + 1)..];
            if (host.Contains(':', StringComparison.Ordinal))
            {
                return "an IPv6 address must be written as [address]:port";
            }
            if (host.Length > 0 && host.All(c => char.IsAsciiDigit(c) || c == '.'))
            {
                if (host.Split('.').Length != 4 || !IPAddress.TryParse(host, out _))
                {
                    return $"'{host}' is not an IPv4 address";
                }
            }
            else if (!IsHostname(host))
            {
                return $"'{host}' is not a valid hostname or IP address";
            }
        }
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return portText.Length == 0 ? "missing port: expected host:port" : $"port '{portText}' must be a number from 1 to 65535";
        }
        return null;
    }
}
