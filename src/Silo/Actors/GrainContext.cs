using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;

namespace Hoop.Silo.Actors;

/// <summary>What an activation is given: its key and stream, and the silo's services.</summary>
public sealed record GrainContext(
    string Key,
    string StreamId,
    IEventStore Store,
    IGrainFactory Grains,
    TimeProvider Time,
    string SiloId,
    IServiceProvider Services);
