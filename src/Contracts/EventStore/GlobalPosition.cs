namespace Hoop.Contracts.EventStore;

/// <summary>
/// A checkpoint in the global log: the writing transaction's id and the event's sequence
/// number. Readers order by (TxId, Seq), which is stable once a transaction is no longer
/// in flight, unlike Seq alone (sequence numbers are taken before commit).
/// </summary>
public readonly record struct GlobalPosition(ulong TxId, long Seq) : IComparable<GlobalPosition>
{
    /// <summary>Before the first event.</summary>
    public static GlobalPosition Start => default;

    public int CompareTo(GlobalPosition other)
    {
        var byTx = TxId.CompareTo(other.TxId);
        return byTx != 0 ? byTx : Seq.CompareTo(other.Seq);
    }

    public static bool operator <(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) < 0;
    public static bool operator >(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) > 0;
    public static bool operator <=(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) <= 0;
    public static bool operator >=(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{TxId}/{Seq}";
}
