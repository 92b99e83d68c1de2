using System.Reflection;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>
/// An instance of any event type with every field filled (awkward text, fractional and large
/// numbers, lists of two), built from its constructor, so a test can cover every registered
/// type, including ones added later.
/// </summary>
internal static class SampleEvents
{
    public static object Create(Type type, int seed = 0) =>
        Sample(type, seed) ?? throw new ArgumentException($"Cannot build a sample {type.Name}.", nameof(type));

    private static object? Sample(Type type, int seed)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null)
            return Sample(underlying, seed);
        if (type == typeof(string))
            return $"naïve 日本語 🚀 \"quoted\" back\\slash tab\t newline\n ctl\u0001 <&amp;> {seed}";
        if (type == typeof(long))
            return 9_007_199_254_740_993L + seed;
        if (type == typeof(int))
            return 42 + seed;
        if (type == typeof(double))
            return 0.1 + seed * 1e-7;
        if (type == typeof(decimal))
            return 1.50m + seed;
        if (type == typeof(bool))
            return true;
        if (type == typeof(DateTimeOffset))
            return new DateTimeOffset(2026, 12, 5, 21, 0, seed % 60, 123, TimeSpan.Zero).AddTicks(4567);
        if (type == typeof(DateTime))
            return new DateTime(2026, 12, 5, 21, 0, seed % 60, 123, DateTimeKind.Utc);
        if (type == typeof(TimeSpan))
            return TimeSpan.FromMilliseconds(1500.25 + seed);
        if (type == typeof(Guid))
            return new Guid(seed, 2, 3, [4, 5, 6, 7, 8, 9, 10, 11]);
        if (type.IsEnum)
        {
            var values = Enum.GetValues(type);
            return values.GetValue(values.Length - 1);
        }

        if (type.IsArray || (type.IsGenericType && type.GetGenericTypeDefinition() is var g
                && (g == typeof(IReadOnlyList<>) || g == typeof(IList<>) || g == typeof(List<>) || g == typeof(IEnumerable<>) || g == typeof(IReadOnlyCollection<>))))
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            var array = Array.CreateInstance(element, 2);
            array.SetValue(Sample(element, seed + 1), 0);
            array.SetValue(Sample(element, seed + 2), 1);
            return type.IsAssignableFrom(array.GetType()) ? array : Activator.CreateInstance(type, array);
        }

        var constructor = type.GetConstructors(BindingFlags.Public | BindingFlags.Instance)
            .OrderByDescending(c => c.GetParameters().Length).FirstOrDefault();
        if (constructor is null)
            return null;
        var arguments = constructor.GetParameters().Select((p, i) => Sample(p.ParameterType, seed + i)).ToArray();
        return constructor.Invoke(arguments);
    }
}
