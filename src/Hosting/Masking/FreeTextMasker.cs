namespace Hoop.Hosting.Masking;

/// <summary>
/// Masks free text that people type (approval reasons, revoke and restore reasons) and text
/// that comes from requests (paths, abort and close reasons) before it is recorded or logged,
/// with every built-in detector (DESIGN §9). The event log is append-only: what it records
/// unmasked can never be removed, so this is applied in the silo, in the grains, whatever path
/// (API, Slack, CLI, gateway) the text came by. Thread-safe.
/// </summary>
public sealed class FreeTextMasker
{
    /// <summary>What is recorded instead of a text that could not be masked in time.</summary>
    public const string NotMasked = "[not recorded: the text could not be masked]";

    private readonly MaskEngine _engine = new(MaskEngine.BuiltIn());

    /// <summary>One shared masker: it holds no state besides its compiled detectors.</summary>
    public static FreeTextMasker Default { get; } = new();

    /// <summary><paramref name="text"/> with every secret or personal value replaced by <c>[MASKED:detector]</c>.</summary>
    public string Mask(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return _engine.Mask(text);
        }
        catch (MaskingFailedException)
        {
            // Fail closed: the text is dropped, never recorded unmasked.
            return NotMasked;
        }
    }

    /// <summary>Like <see cref="Mask(string)"/>; null stays null.</summary>
    public string? MaskOptional(string? text) => text is null ? null : Mask(text);
}
