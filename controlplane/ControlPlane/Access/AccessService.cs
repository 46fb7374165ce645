using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Access;

/// <summary>Tokens and the audit log over gRPC: a thin adapter to <see cref="TokenService"/> and the change log.</summary>
public sealed class AccessService(TokenService tokens, IAuditLogReader auditLog) : Api.V1.Access.AccessBase
{
    private const int DefaultAuditLimit = 100;
    private const int MaxAuditLimit = 1000;
    private static readonly string[] AuditKinds = ["Pool", "Backend", "Listener", "Certificate", "Agent", "Token"];

    public override async Task<CreateTokenResponse> CreateToken(CreateTokenRequest request, ServerCallContext context)
    {
        Management.ManagementService.NoStore(context);
        var (token, bearer) = await tokens.CreateAsync(request.Role, request.Tier, request.Description, request.Ttl, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        return new CreateTokenResponse { Token = ToProto(token), Secret = bearer };
    }

    public override async Task<TokenList> ListTokens(ListTokensRequest request, ServerCallContext context)
    {
        var list = new TokenList();
        list.Items.AddRange((await tokens.ListAsync(request.All, context.CancellationToken).ConfigureAwait(false)).Select(ToProto));
        return list;
    }

    public override async Task<Token> RevokeToken(RevokeTokenRequest request, ServerCallContext context) =>
        ToProto(await tokens.RevokeAsync(request.Id, Caller.Of(context), context.CancellationToken).ConfigureAwait(false));

    public override async Task<Token> WhoAmI(WhoAmIRequest request, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        var mine = await tokens.FindAsync(caller.TokenId, context.CancellationToken).ConfigureAwait(false);
        return mine is not null ? ToProto(mine) : new Token { Id = caller.TokenId, Role = caller.Role, Tier = caller.Tier };
    }

    public override async Task<AuditList> ListAudit(ListAuditRequest request, ServerCallContext context)
    {
        if (request.Limit < 0 || request.Limit > MaxAuditLimit)
        {
            throw Validation.Violations.Single("limit", $"must be from 0 (default {DefaultAuditLimit}) to {MaxAuditLimit}");
        }
        if (request.BeforeId < 0)
        {
            throw Validation.Violations.Single("beforeId", "must not be negative");
        }
        var limit = request.Limit == 0 ? DefaultAuditLimit : request.Limit;
        var kind = "";
        if (request.Kind.Length > 0)
        {
            // Kinds are stored as "Pool", "Token", ...; any case is accepted, anything else named.
            kind = AuditKinds.FirstOrDefault(k => string.Equals(k, request.Kind.Trim(), StringComparison.OrdinalIgnoreCase))
                ?? throw Validation.Violations.Single("kind", $"'{Validation.SpecValidator.Clip(request.Kind)}' is not one of {string.Join(", ", AuditKinds)}");
        }
        var rows = await auditLog.ListAsync(kind, request.Name.ToLowerInvariant(), request.BeforeId, limit, context.CancellationToken).ConfigureAwait(false);
        var list = new AuditList();
        list.Items.AddRange(rows.Select(e => new AuditEntry
        {
            Id = e.Id,
            At = Timestamp.FromDateTime(e.At),
            TokenId = e.ActorTokenId,
            Role = e.ActorRole,
            Action = e.Operation,
            Kind = e.Kind,
            Name = e.Name,
            OldResourceVersion = e.OldResourceVersion,
            NewResourceVersion = e.NewResourceVersion,
            Revision = e.Revision,
            Peer = e.Peer,
        }));
        return list;
    }

    private static Token ToProto(TokenEntity row)
    {
        var token = new Token
        {
            Id = row.Id,
            Role = row.Role,
            Tier = row.Tier,
            Description = row.Description,
            CreatedBy = row.CreatedBy,
            CreatedAt = Timestamp.FromDateTime(row.CreatedAt),
        };
        if (row.ExpiresAt is { } expires)
        {
            token.ExpiresAt = Timestamp.FromDateTime(expires);
        }
        if (row.RevokedAt is { } revoked)
        {
            token.RevokedAt = Timestamp.FromDateTime(revoked);
        }
        if (row.LastUsedAt is { } used)
        {
            token.LastUsedAt = Timestamp.FromDateTime(used);
        }
        return token;
    }
}
