using Hoop.Contracts.Policy;

namespace Hoop.Gateway.Routing;

/// <summary>
/// Each connection's credential header, resolved once at start-up (a missing env var or file
/// stops the gateway with the connection named). Values are never logged or returned.
/// </summary>
public sealed class UpstreamCredentials
{
    private readonly Dictionary<string, (string Header, string Value)> _byConnection = new(StringComparer.Ordinal);

    public UpstreamCredentials(PolicyDocument policy, Func<string, string?>? environment = null)
    {
        foreach (var connection in policy.Connections)
        {
            if (connection.Credential is not { } credential)
                continue;
            try
            {
                _byConnection[connection.Name] = (credential.Header, credential.ResolveHeaderValue(environment));
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or PolicyException)
            {
                throw new InvalidOperationException(
                    $"Connection '{connection.Name}': its credential ({credential.Source}) could not be read: {e.Message}", e);
            }
        }
    }

    /// <summary>The header to inject for <paramref name="connection"/>, if it has a credential.</summary>
    public bool TryGet(string connection, out string header, out string value)
    {
        if (_byConnection.TryGetValue(connection, out var credential))
        {
            (header, value) = credential;
            return true;
        }

        header = value = "";
        return false;
    }
}
