using System.Globalization;

namespace Hoop.EndToEnd.Tests.Telemetry;

/// <summary>Reads samples out of a Prometheus text exposition.</summary>
public static class PrometheusText
{
    /// <summary>The sum of the samples named <paramref name="name"/> whose labels include every one of <paramref name="labels"/> (<c>key="value"</c>).</summary>
    public static double Sum(string exposition, string name, params string[] labels)
    {
        var total = 0.0;
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
                continue;
            var rest = line[name.Length..];
            if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' '))
                continue; // a longer name
            var labelText = rest[0] == '{' ? rest[1..rest.IndexOf('}', StringComparison.Ordinal)] : "";
            if (!labels.All(l => labelText.Contains(l, StringComparison.Ordinal)))
                continue;
            var value = rest[(rest[0] == '{' ? rest.IndexOf('}', StringComparison.Ordinal) + 1 : 0)..].Trim().Split(' ')[0];
            total += double.Parse(value, CultureInfo.InvariantCulture);
        }

        return total;
    }
}
