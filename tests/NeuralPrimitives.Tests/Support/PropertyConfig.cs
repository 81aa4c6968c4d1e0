using FsCheck.Xunit;

namespace NeuralPrimitives.Tests.Support;

/// <summary>
/// [Property] with the shared arbitraries and a bounded number of cases. A failing case prints FsCheck's seed
/// ("Falsifiable, after 6 tests (0 shrinks) (1199116185127104417,9361459127467196877)" and "Replay directly at failing
/// step with (…,…,16)"); setting <see cref="ReplayVariable"/> to either value reruns exactly that case
/// (docs/testing.md).
/// </summary>
public sealed class NpPropertyAttribute : PropertyAttribute
{
    /// <summary>The environment variable holding an FsCheck replay seed, e.g. <c>(1199116185127104417,9361459127467196877)</c>.</summary>
    public const string ReplayVariable = "NP_FSCHECK_REPLAY";

    public NpPropertyAttribute()
    {
        Arbitrary = [typeof(Arbitraries)];
        MaxTest = 40;
        if (ReplayFrom(Environment.GetEnvironmentVariable(ReplayVariable)) is { } replay) Replay = replay;
    }

    /// <summary>The replay seed in <paramref name="value"/> ("(seed,gamma)" or "(seed,gamma,size)"), or null when unset.</summary>
    internal static string? ReplayFrom(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var s = value.Trim();
        string[] parts = s.Length > 2 && s[0] == '(' && s[^1] == ')' ? s[1..^1].Split(',') : [];
        if (parts.Length is not (2 or 3) || !parts.All(p => ulong.TryParse(p.Trim(), out _)))
            throw new InvalidOperationException($"{ReplayVariable} must look like \"(seed,gamma)\" or \"(seed,gamma,size)\" as FsCheck prints it, got \"{value}\".");
        return s;
    }
}
