namespace Hoop.Gateway.SiloClient;

/// <summary>
/// Rendezvous (highest-random-weight) hashing of grain keys over silo base URLs (DESIGN §7):
/// each (key, silo) pair gets a score and the key's silos are tried from the highest score
/// down. Every gateway ranks a key the same way without talking to the others, a key keeps
/// its silo while that silo is listed, and removing a silo moves only the keys it held
/// (about 1/n of them), each to its own next-best silo.
/// </summary>
/// <remarks>
/// The score is FNV-1a 64 over the key's UTF-16 code units, XORed with the same hash of the
/// silo URL, then mixed with MurmurHash3's 64-bit finaliser so that keys differing in one
/// character land independently. It is stable across processes, machines and .NET versions
/// (unlike <see cref="string.GetHashCode()"/>). Routing only places activations where their
/// state is warm; correctness never depends on it (the store's optimistic concurrency does).
/// </remarks>
public sealed class RendezvousRouter
{
    private readonly Uri[] _silos;
    private readonly ulong[] _siloHashes;

    public RendezvousRouter(IReadOnlyList<Uri> silos)
    {
        ArgumentNullException.ThrowIfNull(silos);
        if (silos.Count == 0)
            throw new ArgumentException("At least one silo is required.", nameof(silos));
        _silos = [.. silos];
        _siloHashes = [.. _silos.Select(s => Fnv1a(s.AbsoluteUri))];
    }

    public IReadOnlyList<Uri> Silos => _silos;

    /// <summary>The silo that owns <paramref name="key"/> while all are up (the first of <see cref="Rank"/>).</summary>
    public int Best(string key)
    {
        var keyHash = Fnv1a(key);
        var best = 0;
        var bestScore = 0UL;
        for (var i = 0; i < _siloHashes.Length; i++)
        {
            var score = Mix(keyHash ^ _siloHashes[i]);
            if (i == 0 || score > bestScore)
                (best, bestScore) = (i, score);
        }

        return best;
    }

    /// <summary>Indexes into <see cref="Silos"/> in the order to try them for <paramref name="key"/>.</summary>
    public int[] Rank(string key)
    {
        var keyHash = Fnv1a(key);
        var scores = new ulong[_silos.Length];
        var order = new int[_silos.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = Mix(keyHash ^ _siloHashes[i]);
            order[i] = i;
        }

        Array.Sort(scores, order);
        Array.Reverse(order);
        return order;
    }

    /// <summary>The score of <paramref name="key"/> on a silo with base URL <paramref name="silo"/>; higher wins.</summary>
    public static ulong Score(string key, Uri silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return Mix(Fnv1a(key) ^ Fnv1a(silo.AbsoluteUri));
    }

    private static ulong Fnv1a(string value)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in value)
        {
            hash = (hash ^ (byte)c) * 1099511628211UL;
            hash = (hash ^ (byte)(c >> 8)) * 1099511628211UL;
        }

        return hash;
    }

    private static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }
}
