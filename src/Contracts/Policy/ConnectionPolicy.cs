namespace Hoop.Contracts.Policy;

/// <summary>
/// An upstream agents reach at <c>/{Name}/{**path}</c>, who may use it, how it is masked,
/// and which rules apply to it (in this order; deny rules are still checked before approval rules).
/// <see cref="Api"/> is the upstream's API shape: how its streamed answers are read and masked.
/// <see cref="Upstream"/> is the first of <see cref="Upstreams"/>, the destinations requests are
/// spread over (policy <c>"upstream"</c> or <c>"upstreams"</c>).
/// </summary>
public sealed record ConnectionPolicy(
    string Name,
    Uri Upstream,
    UpstreamCredential? Credential,
    IReadOnlyList<string> AllowedGroups,
    MaskOptions Mask,
    IReadOnlyList<string> Rules,
    UpstreamApi Api = UpstreamApi.Anthropic)
{
    /// <summary>Default of <see cref="IdleTimeout"/>.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Every destination of the connection, <see cref="Upstream"/> first (policy <c>"upstreams"</c>).</summary>
    public IReadOnlyList<Uri> Upstreams { get; init; } = [Upstream];

    /// <summary>When answer bytes may reach the agent (policy <c>"streamRelease"</c>).</summary>
    public StreamRelease StreamRelease { get; init; } = StreamRelease.AfterRecord;

    /// <summary>How long an upstream may send nothing once its headers came before the answer is cut (policy <c>"idleTimeout"</c>).</summary>
    public TimeSpan IdleTimeout { get; init; } = DefaultIdleTimeout;

    /// <summary>What of a conversation's text is stored (policy <c>"content"</c>, docs/retention.md).</summary>
    public ContentRecording Content { get; init; } = ContentRecording.Full;

    /// <summary>How long content and metadata of the connection's sessions are kept (policy <c>"retention"</c>).</summary>
    public RetentionPolicy Retention { get; init; } = RetentionPolicy.Forever;
}

/// <summary>What of a conversation's text a connection stores (policy <c>"content"</c>).</summary>
public enum ContentRecording
{
    /// <summary><c>"full"</c> (the default): masked prompts, answers and approval excerpts, encrypted with the session's data key.</summary>
    Full,

    /// <summary><c>"metadata"</c>: no prompt or answer text at all; only sizes and a keyed hash of the prompt.</summary>
    Metadata,
}

/// <summary>
/// How long a connection's sessions are kept after their last activity (policy <c>"retention"</c>, durations
/// <c>d.hh:mm:ss</c>): <see cref="Content"/> until the text's data key is destroyed, <see cref="Metadata"/>
/// until the session leaves the projections. Null keeps it forever. Content never outlives metadata.
/// </summary>
public sealed record RetentionPolicy(TimeSpan? Content, TimeSpan? Metadata)
{
    /// <summary>Nothing expires (no <c>"retention"</c> in the policy).</summary>
    public static RetentionPolicy Forever { get; } = new(null, null);

    /// <summary>When the content expires: <see cref="Content"/>, else with the metadata.</summary>
    public TimeSpan? EffectiveContent => Content ?? Metadata;
}

/// <summary>When the bytes of a streamed answer may reach the agent (policy <c>"streamRelease"</c>).</summary>
public enum StreamRelease
{
    /// <summary><c>"after-record"</c> (the default): no byte before the chunk batch that holds it is durably recorded.</summary>
    AfterRecord,

    /// <summary><c>"immediate"</c>: as soon as it is masked; only the end of the answer waits until everything is recorded.</summary>
    Immediate,
}

/// <summary>The API shape of an upstream (policy <c>"api"</c>): which server-sent events its streams carry.</summary>
public enum UpstreamApi
{
    /// <summary><c>"anthropic"</c> (the default): the Messages API's named events (<c>content_block_delta</c>, ...).</summary>
    Anthropic,

    /// <summary><c>"openai"</c>: chat completions chunks (<c>data: {choices:[{index, delta}]}</c> ... <c>data: [DONE]</c>).</summary>
    OpenAi,
}

/// <summary>
/// The credential the gateway injects into forwarded requests: header <see cref="Header"/> set to
/// <see cref="Prefix"/> + the secret (e.g. <c>Authorization: Bearer …</c> or <c>x-api-key: …</c>).
/// </summary>
public sealed record UpstreamCredential(string Header, SecretSource Source, string Prefix = "")
{
    /// <summary>The header value: <see cref="Prefix"/> followed by the resolved secret. Never log it.</summary>
    public string ResolveHeaderValue(Func<string, string?>? environment = null) => Prefix + Source.Resolve(environment);
}

/// <summary>
/// Masking for one connection (DESIGN §9): responses are masked by default, forwarded requests
/// are not (prompts are always masked in events). <see cref="Detectors"/> null means every
/// built-in detector and every custom rule; otherwise only those named. <see cref="KeepLast4"/>
/// names detectors rendered with their last four characters (<c>[MASKED:card:1111]</c>).
/// <see cref="MaxHoldChars"/> caps how much text a stream may hold back (the longest private key
/// or JWT it can mask whole); <see cref="BudgetMs"/> is the most one masking step over up to 64 Ki
/// characters may take (proportionally more for longer texts) before the exchange fails closed.
/// </summary>
public sealed record MaskOptions(
    bool Request = false,
    bool Response = true,
    IReadOnlyList<string>? Detectors = null,
    IReadOnlyList<string>? KeepLast4 = null,
    IReadOnlyList<CustomMaskRule>? Custom = null,
    int MaxHoldChars = MaskOptions.DefaultMaxHoldChars,
    int BudgetMs = MaskOptions.DefaultBudgetMs)
{
    public const int DefaultMaxHoldChars = 16 * 1024;
    public const int DefaultBudgetMs = 2000;

    public static MaskOptions Default { get; } = new();

    /// <summary>Names of the built-in detectors (docs/masking.md describes each).</summary>
    public static IReadOnlyList<string> BuiltInDetectors { get; } =
    [
        "private-key", "aws-secret-key", "anthropic-key", "openai-key", "github-token", "slack-token", "jwt",
        "aws-access-key", "secret-assignment", "iban", "card", "ssn", "phone", "email",
    ];
}

/// <summary>A masking rule of the policy: matches of <see cref="Pattern"/>, at most <see cref="MaxLength"/> characters, become <c>[MASKED:Name]</c>.</summary>
public sealed record CustomMaskRule(string Name, string Pattern, int MaxLength = CustomMaskRule.DefaultMaxLength)
{
    public const int DefaultMaxLength = 64;
    public const int MaxMaxLength = 4096;
}
