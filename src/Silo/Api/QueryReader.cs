using System.Globalization;
using Hoop.Silo.Projections;
using Microsoft.AspNetCore.Http;

namespace Hoop.Silo.Api;

/// <summary>A query parameter is malformed, out of range, repeated or unknown.</summary>
public sealed class QueryParameterException(string parameter, string problem)
    : ArgumentException($"Query parameter '{parameter}' {problem}.")
{
    public string Parameter { get; } = parameter;
}

/// <summary>
/// Reads query parameters strictly: known names only, one value each. Every endpoint that takes
/// query parameters (paging: <c>limit</c>, <c>after</c>, <c>fromVersion</c>; filters) reads them
/// through this, so the same value gets the same 400 everywhere (<see cref="QueryParameterException"/>,
/// answered by <see cref="ProjectionEndpoints.ParameterProblem"/>).
/// </summary>
internal sealed class QueryReader
{
    private const int MaxTextLength = 500;
    private readonly IQueryCollection _query;

    public QueryReader(IQueryCollection query, string[] known)
    {
        _query = query;
        foreach (var (name, values) in query)
        {
            if (!known.Contains(name, StringComparer.Ordinal))
                throw new QueryParameterException(name, known.Length == 0
                    ? "is not known: this endpoint takes no parameters"
                    : $"is not known here; the parameters are {string.Join(", ", known)}");
            if (values.Count > 1)
                throw new QueryParameterException(name, "is given more than once");
        }
    }

    /// <summary>The parameter's value, or null when absent or empty.</summary>
    public string? Text(string name)
    {
        var value = _query[name].ToString();
        if (value.Length == 0)
            return null;
        if (value.Length > MaxTextLength)
            throw new QueryParameterException(name, $"is {value.Length} characters long; the limit is {MaxTextLength}");
        if (value.Any(char.IsControl))
            throw new QueryParameterException(name, "must not contain control characters");
        return value;
    }

    /// <summary><c>limit</c>: a whole number from 1 to <paramref name="max"/>; <paramref name="defaultLimit"/> when absent.</summary>
    public int Limit(int defaultLimit = 50, int max = ProjectionQueries.MaxLimit)
    {
        if (Text("limit") is not { } text)
            return defaultLimit;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit < 1 || limit > max)
            throw new QueryParameterException("limit", $"must be an integer from 1 to {max}; it is '{Shortened(text)}'");
        return limit;
    }

    /// <summary>A stream version to start from (<c>fromVersion</c>): a whole number from 1; null when absent.</summary>
    public long? Version(string name)
    {
        if (Text(name) is not { } text)
            return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version < 1)
            throw new QueryParameterException(name, $"must be a whole number from 1; it is '{Shortened(text)}'");
        return version;
    }

    private static string Shortened(string text) => text.Length <= 40 ? text : text[..40] + "…";

    /// <summary><c>from</c> (inclusive) and <c>to</c> (exclusive), ISO 8601 times; without an offset, UTC.</summary>
    public (DateTimeOffset? From, DateTimeOffset? To) Range()
    {
        var from = Time("from");
        var to = Time("to");
        if (from is { } f && to is { } t && t < f)
            throw new QueryParameterException("to", $"({t:O}) is before 'from' ({f:O})");
        return (from, to);
    }

    private DateTimeOffset? Time(string name)
    {
        if (Text(name) is not { } text)
            return null;
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var time)
            || !char.IsAsciiDigit(text.TrimStart()[0]))
            throw new QueryParameterException(name, $"must be an ISO 8601 time such as 2026-11-22T08:00:00Z; it is '{text}'");
        return time.ToUniversalTime();
    }
}
