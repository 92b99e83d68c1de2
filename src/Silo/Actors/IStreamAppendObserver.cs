namespace Hoop.Silo.Actors;

/// <summary>Told of every <c>hoop_events</c> notification this silo receives (its own appends included).</summary>
public interface IStreamAppendObserver
{
    void OnStreamAppended(string streamId, long version);

    /// <summary>The notification connection was lost and re-established: some notifications may be missing.</summary>
    void OnNotificationsLost();
}
