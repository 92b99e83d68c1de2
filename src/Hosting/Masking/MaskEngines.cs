using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;

namespace Hoop.Hosting.Masking;

/// <summary>The mask engine of every connection of the policy, built once at start-up.</summary>
public sealed class MaskEngines(PolicyDocument policy)
{
    private readonly Dictionary<string, MaskEngine> _engines =
        policy.Connections.ToDictionary(c => c.Name, c => MaskEngine.Create(c.Mask), StringComparer.Ordinal);

    public MaskEngine For(ConnectionPolicy connection) => _engines[connection.Name];

    /// <summary>The tally as MaskApplied counts (null when nothing was masked).</summary>
    public static IReadOnlyList<MaskCount>? Counts(MaskTally tally) =>
        tally.Total == 0 ? null : tally.Entries.Select(e => new MaskCount(e.Detector, e.Count)).ToArray();
}
