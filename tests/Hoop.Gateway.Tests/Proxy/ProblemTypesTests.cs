using System.Reflection;
using Hoop.Gateway.Proxy;
using Hoop.Hosting.Auth;
using Hoop.Hosting.Problems;
using Hoop.Silo.Api;
using Hoop.Silo.Approvals.Slack;
using Xunit;

namespace Hoop.Gateway.Tests.Proxy;

/// <summary>Every problem type the hosts declare belongs to exactly one status, and a type is never sent with another status.</summary>
public sealed class ProblemTypesTests
{
    public static TheoryData<string, string> DeclaredTypes()
    {
        var data = new TheoryData<string, string>();
        foreach (var holder in new[] { typeof(GatewayProblems), typeof(SiloProblemTypes), typeof(AuthProblemTypes), typeof(SlackInteractionHandler) })
        {
            foreach (var field in holder.GetFields(BindingFlags.Public | BindingFlags.Static))
            {
                if (field.IsLiteral && field.GetRawConstantValue() is string value && value.StartsWith("https://hoop.dev/problems/", StringComparison.Ordinal))
                    data.Add($"{holder.Name}.{field.Name}", value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DeclaredTypes))]
    public void Every_declared_problem_type_has_its_status(string name, string type) =>
        Assert.True(ProblemTypes.All.ContainsKey(type), $"{name} ({type}) is not in ProblemTypes: give it its status there");

    [Theory]
    [InlineData(408, ProblemTypes.BadRequest, ProblemTypes.RequestTimeout)]
    [InlineData(403, ProblemTypes.BadRequest, ProblemTypes.Forbidden)]
    [InlineData(404, ProblemTypes.UnknownConnection, ProblemTypes.UnknownConnection)]
    [InlineData(404, ProblemTypes.Conflict, ProblemTypes.NotFound)]
    [InlineData(413, ProblemTypes.BadRequest, ProblemTypes.TooLarge)]
    [InlineData(403, ProblemTypes.Blocked, ProblemTypes.Blocked)]
    [InlineData(400, "https://hoop.dev/problems/made-up", ProblemTypes.BadRequest)]
    [InlineData(418, ProblemTypes.BadRequest, ProblemTypes.Blank)]
    public void A_type_is_sent_only_with_its_own_status(int status, string given, string sent) =>
        Assert.Equal(sent, ProblemTypes.Checked(status, given));

    [Fact]
    public void The_general_type_of_a_status_belongs_to_it()
    {
        foreach (var status in new[] { 400, 401, 403, 404, 408, 409, 413, 429, 502, 503, 504 })
            Assert.True(ProblemTypes.Matches(ProblemTypes.For(status), status), $"{status}: {ProblemTypes.For(status)}");
    }
}
