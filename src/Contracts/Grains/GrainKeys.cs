using Orleans;

namespace Hoop.Contracts.Grains;

/// <summary>
/// Grain keys become stream ids and URL segments: printable, no whitespace or '/', not '.' or '..', at most
/// 150 characters.
/// </summary>
public static class GrainKeys
{
    /// <summary>
    /// Refuses a key that cannot be a grain key. The <see cref="ArgumentException"/> says what is wrong in the
    /// caller's terms (<paramref name="what"/>: "A session id", …) and never repeats the key.
    /// </summary>
    public static void Validate(string key, string what = "An id")
    {
        if (string.IsNullOrEmpty(key) || key.Length > 150 || key is "." or ".."
            || key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || char.IsSurrogate(c) || c == '/'))
            throw new ArgumentException($"{what} must be 1 to 150 printable characters without whitespace or '/', and not '.' or '..'.");
    }

    /// <summary>A reference to the grain <typeparamref name="TGrain"/> with <paramref name="key"/>, after checking the key.</summary>
    public static TGrain Get<TGrain>(this IGrainFactory grains, string key) where TGrain : IGrainWithStringKey
    {
        Validate(key, KindOfKey(typeof(TGrain)));
        return grains.GetGrain<TGrain>(key);
    }

    /// <summary>What a key of <paramref name="grain"/> is, for the caller.</summary>
    private static string KindOfKey(Type grain) =>
        grain == typeof(ISessionGrain) ? "A session id"
        : grain == typeof(IIdentityGrain) ? "An identity (a token's 'sub')"
        : grain == typeof(IApprovalGrain) ? "An approval id"
        : "An id";
}
