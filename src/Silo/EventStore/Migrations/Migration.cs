namespace Hoop.Silo.EventStore.Migrations;

/// <summary>One versioned schema change. Versions are never reused or edited once shipped.</summary>
public sealed record Migration(int Version, string Name, string Sql);
