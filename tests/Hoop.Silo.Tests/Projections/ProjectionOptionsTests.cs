using Hoop.Silo.Projections;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Hoop.Silo.Tests.Projections;

public sealed class ProjectionOptionsTests
{
    private static readonly DateTimeOffset MondayNine = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);

    private static ProjectionOptions Bind(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>("Hoop:Projections:" + s.Key, s.Value)))
            .Build();
        return configuration.GetSection("Hoop:Projections").Get<ProjectionOptions>() ?? new ProjectionOptions();
    }

    [Fact]
    public void Without_working_hours_the_outside_hours_flag_is_unknown()
    {
        var options = Bind();
        options.Validate();
        Assert.Null(options.IsOutsideWorkingHours(MondayNine));
    }

    [Fact]
    public void Configured_working_hours_flag_nights_and_weekends()
    {
        var options = Bind(("WorkingHoursStartHour", "8"), ("WorkingHoursEndHour", "18"));
        options.Validate();
        Assert.False(options.IsOutsideWorkingHours(MondayNine));
        Assert.True(options.IsOutsideWorkingHours(MondayNine.AddHours(9)));   // 18:00
        Assert.True(options.IsOutsideWorkingHours(MondayNine.AddDays(-2)));   // Saturday
        var weekendShift = Bind(("WorkingHoursStartHour", "8"), ("WorkingHoursEndHour", "18"), ("WorkingDays:0", "Saturday"));
        Assert.False(weekendShift.IsOutsideWorkingHours(MondayNine.AddDays(-2)));
        Assert.True(weekendShift.IsOutsideWorkingHours(MondayNine));
    }

    [Theory]
    [InlineData("WorkingHoursStartHour", "24", "Hoop:Projections:WorkingHoursStartHour")]
    [InlineData("WorkingHoursEndHour", "0", "Hoop:Projections:WorkingHoursEndHour")]
    [InlineData("BatchSize", "0", "Hoop:Projections:BatchSize")]
    [InlineData("PollInterval", "00:00:00", "Hoop:Projections:PollInterval")]
    [InlineData("WorkingHoursTimeZone", "Mars/Olympus", "Hoop:Projections:WorkingHoursTimeZone")]
    public void Bad_settings_are_refused_naming_the_key(string key, string value, string named)
    {
        var options = Bind((key, value), key.StartsWith("WorkingHours", StringComparison.Ordinal) && key != "WorkingHoursTimeZone"
            ? (key == "WorkingHoursStartHour" ? "WorkingHoursEndHour" : "WorkingHoursStartHour", key == "WorkingHoursStartHour" ? "24" : "1")
            : ("Daemon", "true"));
        var error = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }
}
