namespace Hoop.Contracts.Grains;

/// <summary>
/// Marks a virtual actor addressed by a string key (Orleans' <c>IGrainWithStringKey</c>).
/// Calls on one key run one at a time; state lives in the key's event stream.
/// </summary>
public interface IGrainWithStringKey;

/// <summary>Hands out references to grains; activation happens on first call (Orleans' <c>IGrainFactory</c>).</summary>
public interface IGrainFactory
{
    /// <summary>A reference to the grain <typeparamref name="TGrain"/> with <paramref name="key"/>; cheap, never null.</summary>
    TGrain Get<TGrain>(string key) where TGrain : IGrainWithStringKey;
}
