namespace Hoop.Silo.Projections;

/// <summary>Tuning of the projection daemon and rebuilds (section <c>Hoop:Projections</c>).</summary>
public sealed record ProjectionOptions
{
    /// <summary>Whether this silo runs the projection daemon (it takes part in leader election). Default true.</summary>
    public bool Daemon { get; init; } = true;

    /// <summary>
    /// How often a caught-up leader reads the log when no <c>hoop_events</c> notification came
    /// (notifications are hints and can be lost). Default 1 second.
    /// </summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a woken leader waits for more appends before reading, so that they make one batch (0: none).</summary>
    public TimeSpan WakeCoalesce { get; init; } = TimeSpan.FromMilliseconds(15);

    /// <summary>How often a silo that is not the leader of a projection tries to become it. Default 1 second.</summary>
    public TimeSpan LeaderRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Log rows read and applied per transaction by the live daemon. Default 2,000.</summary>
    public int BatchSize { get; init; } = 2_000;

    /// <summary>Log rows read and applied per transaction by a rebuild. Default 20,000.</summary>
    public int RebuildBatchSize { get; init; } = 20_000;

    /// <summary>
    /// Working hours, for <c>identity_activity.outside_working_hours</c>: first hour (0-23) of
    /// the working day, in <see cref="WorkingHoursTimeZone"/>. When this or
    /// <see cref="WorkingHoursEndHour"/> is unset, the flag stays null.
    /// </summary>
    public int? WorkingHoursStartHour { get; init; }

    /// <summary>Hour (1-24) at which the working day ends (exclusive).</summary>
    public int? WorkingHoursEndHour { get; init; }

    /// <summary>Working days (e.g. <c>["Monday", "Tuesday"]</c>). Unset: Monday to Friday.</summary>
    /// <remarks>No default array here: the configuration binder would append configured days to it.</remarks>
    public DayOfWeek[]? WorkingDays { get; init; }

    private static readonly DayOfWeek[] Weekdays =
        [DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday];

    /// <summary>Time zone of the working hours (IANA or Windows id). Default UTC.</summary>
    public string WorkingHoursTimeZone { get; init; } = "UTC";

    /// <summary>Throws with a message naming the bad key when a value is out of range.</summary>
    public void Validate()
    {
        static void Positive(TimeSpan value, string key)
        {
            if (value <= TimeSpan.Zero)
                throw new InvalidOperationException($"Hoop:Projections:{key} must be a positive duration (e.g. 00:00:01); it is {value}.");
        }

        Positive(PollInterval, nameof(PollInterval));
        Positive(LeaderRetryInterval, nameof(LeaderRetryInterval));
        if (WakeCoalesce < TimeSpan.Zero || WakeCoalesce > TimeSpan.FromSeconds(1))
            throw new InvalidOperationException($"Hoop:Projections:WakeCoalesce must be between 0 and 1 second (e.g. 00:00:00.015); it is {WakeCoalesce}.");
        if (BatchSize is < 1 or > 100_000)
            throw new InvalidOperationException($"Hoop:Projections:BatchSize must be between 1 and 100000; it is {BatchSize}.");
        if (RebuildBatchSize is < 1 or > 100_000)
            throw new InvalidOperationException($"Hoop:Projections:RebuildBatchSize must be between 1 and 100000; it is {RebuildBatchSize}.");
        if (WorkingHoursStartHour is < 0 or > 23)
            throw new InvalidOperationException($"Hoop:Projections:WorkingHoursStartHour must be between 0 and 23; it is {WorkingHoursStartHour}.");
        if (WorkingHoursEndHour is < 1 or > 24)
            throw new InvalidOperationException($"Hoop:Projections:WorkingHoursEndHour must be between 1 and 24; it is {WorkingHoursEndHour}.");
        if (WorkingHoursStartHour is { } start && WorkingHoursEndHour is { } end && end <= start)
            throw new InvalidOperationException($"Hoop:Projections:WorkingHoursEndHour ({end}) must be after WorkingHoursStartHour ({start}).");
        if (WorkingHoursStartHour.HasValue != WorkingHoursEndHour.HasValue)
            throw new InvalidOperationException("Hoop:Projections:WorkingHoursStartHour and WorkingHoursEndHour must be set together (or neither).");
        try
        {
            TimeZoneInfo.FindSystemTimeZoneById(WorkingHoursTimeZone);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new InvalidOperationException($"Hoop:Projections:WorkingHoursTimeZone '{WorkingHoursTimeZone}' is not a known time zone (e.g. UTC, Europe/Paris).", e);
        }
    }

    /// <summary>Whether the hour starting at <paramref name="hourUtc"/> is outside working hours; null when they are not configured.</summary>
    public bool? IsOutsideWorkingHours(DateTimeOffset hourUtc)
    {
        if (WorkingHoursStartHour is not { } start || WorkingHoursEndHour is not { } end)
            return null;
        var local = TimeZoneInfo.ConvertTime(hourUtc, TimeZoneInfo.FindSystemTimeZoneById(WorkingHoursTimeZone));
        return !(WorkingDays ?? Weekdays).Contains(local.DayOfWeek) || local.Hour < start || local.Hour >= end;
    }
}
