namespace Hoop.Fakes.Upstream;

/// <summary>
/// One request as <see cref="FakeUpstream"/> received it: the method, the request target
/// exactly as sent (path and query), every header (names looked up case-insensitively, repeated
/// headers keep every value) and the body as UTF-8 text.
/// </summary>
public sealed record ReceivedRequest(
    string Method,
    string PathAndQuery,
    IReadOnlyDictionary<string, string[]> Headers,
    string Body,
    DateTimeOffset At)
{
    /// <summary>The header's value (repeated values joined with <c>", "</c>), or null when it was not sent.</summary>
    public string? Header(string name) =>
        Headers.TryGetValue(name, out var values) ? string.Join(", ", values) : null;
}
