namespace Hoop.Contracts.Policy;

/// <summary>
/// An upstream agents reach at <c>/{Name}/{**path}</c>, who may use it, how it is masked,
/// and which rules apply to it (in this order; deny rules are still checked before approval rules).
/// </summary>
public sealed record ConnectionPolicy(
    string Name,
    Uri Upstream,
    UpstreamCredential? Credential,
    IReadOnlyList<string> AllowedGroups,
    MaskOptions Mask,
    IReadOnlyList<string> Rules);

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
/// are not. <see cref="Detectors"/> null means every built-in detector; otherwise only those named.
/// </summary>
public sealed record MaskOptions(bool Request = false, bool Response = true, IReadOnlyList<string>? Detectors = null)
{
    public static MaskOptions Default { get; } = new();
}
