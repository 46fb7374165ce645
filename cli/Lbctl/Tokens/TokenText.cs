using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Output;

namespace LoadBalancer.Cli.Tokens;

/// <summary>How tokens are printed: the list table, and the summary of create and whoami.</summary>
internal static class TokenText
{
    public static readonly IReadOnlyList<string> Headers = ["ID", "ROLE", "TIER", "DESCRIPTION", "CREATED", "EXPIRES", "LAST-USED", "STATUS"];

    public static IReadOnlyList<string> Row(Token token, DateTimeOffset now) =>
    [
        token.Id,
        token.Role,
        Or(token.Tier),
        Or(token.Description),
        Age.Since(token.CreatedAt, now),
        Expires(token.ExpiresAt, now),
        IsSet(token.LastUsedAt) ? Age.Since(token.LastUsedAt, now) : "never",
        Status(token, now),
    ];

    /// <summary>"in 89d", "never" or "expired".</summary>
    public static string Expires(Timestamp? expiresAt, DateTimeOffset now)
    {
        if (!IsSet(expiresAt))
        {
            return "never";
        }
        var left = expiresAt!.ToDateTimeOffset() - now;
        return left > TimeSpan.Zero ? $"in {Age.Format(left)}" : "expired";
    }

    /// <summary>revoked wins over expired: it was a decision, expiry only a date.</summary>
    public static string Status(Token token, DateTimeOffset now) =>
        IsSet(token.RevokedAt) ? "revoked"
        : IsSet(token.ExpiresAt) && token.ExpiresAt.ToDateTimeOffset() <= now ? "expired"
        : "active";

    /// <summary>The lines shared by token create and whoami.</summary>
    public static void WriteSummary(TextWriter output, Token token, DateTimeOffset now)
    {
        output.WriteLine($"Token:        {token.Id}");
        output.WriteLine($"Role:         {token.Role}");
        output.WriteLine($"Tier:         {Or(token.Tier)}");
        if (token.Description.Length > 0)
        {
            output.WriteLine($"Description:  {token.Description}");
        }
        output.WriteLine($"Expires:      {(IsSet(token.ExpiresAt) ? Age.Describe(token.ExpiresAt, now) : "never")}");
    }

    private static bool IsSet(Timestamp? timestamp) => timestamp is not null && (timestamp.Seconds != 0 || timestamp.Nanos != 0);

    private static string Or(string value) => value.Length == 0 ? "-" : value;
}
