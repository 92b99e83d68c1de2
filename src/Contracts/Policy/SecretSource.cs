namespace Hoop.Contracts.Policy;

public enum SecretSourceKind
{
    /// <summary>An environment variable, named by <see cref="SecretSource.Reference"/>.</summary>
    Environment,

    /// <summary>A file holding the secret (trailing whitespace ignored), at the absolute path <see cref="SecretSource.Reference"/>.</summary>
    File,

    /// <summary>The secret itself, written in the policy. For development only.</summary>
    Value,
}

/// <summary>
/// Where a secret comes from. The policy only names it; the component that needs it calls
/// <see cref="Resolve"/>, so a silo need not hold a gateway's upstream key. <see cref="ToString"/>
/// never shows a value.
/// </summary>
public sealed record SecretSource(SecretSourceKind Kind, string Reference)
{
    public static SecretSource FromEnvironment(string name) => new(SecretSourceKind.Environment, name);

    public static SecretSource FromFile(string absolutePath) => new(SecretSourceKind.File, absolutePath);

    public static SecretSource FromValue(string value) => new(SecretSourceKind.Value, value);

    /// <summary>
    /// Reads the secret. Throws <see cref="InvalidOperationException"/> naming the variable or
    /// file (never the value) when it is unset, empty or unreadable.
    /// </summary>
    /// <param name="environment">Reads environment variables; <see cref="Environment.GetEnvironmentVariable(string)"/> when null.</param>
    public string Resolve(Func<string, string?>? environment = null)
    {
        switch (Kind)
        {
            case SecretSourceKind.Environment:
                var fromEnvironment = (environment ?? System.Environment.GetEnvironmentVariable)(Reference);
                if (string.IsNullOrEmpty(fromEnvironment))
                    throw new InvalidOperationException($"The secret's environment variable {Reference} is not set.");
                return fromEnvironment;

            case SecretSourceKind.File:
                string fromFile;
                try
                {
                    fromFile = File.ReadAllText(Reference).TrimEnd();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new InvalidOperationException($"The secret file '{Reference}' cannot be read: {e.Message}", e);
                }

                if (fromFile.Length == 0)
                    throw new InvalidOperationException($"The secret file '{Reference}' is empty.");
                return fromFile;

            default:
                return Reference;
        }
    }

    public override string ToString() => Kind switch
    {
        SecretSourceKind.Environment => $"env:{Reference}",
        SecretSourceKind.File => $"file:{Reference}",
        _ => "value:***",
    };
}
