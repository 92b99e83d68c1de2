using Orleans;

namespace Hoop.Contracts.Grains;

/// <summary>Grain keys become stream ids and URL segments: printable, no whitespace, at most 150 characters.</summary>
public static class GrainKeys
{
    public static void Validate(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 150 || key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || char.IsSurrogate(c) || c == '/'))
            throw new ArgumentException("A grain key must be 1 to 150 printable characters without whitespace or '/'.", nameof(key));
    }

    /// <summary>A reference to the grain <typeparamref name="TGrain"/> with <paramref name="key"/>, after checking the key.</summary>
    public static TGrain Get<TGrain>(this IGrainFactory grains, string key) where TGrain : IGrainWithStringKey
    {
        Validate(key);
        return grains.GetGrain<TGrain>(key);
    }
}
