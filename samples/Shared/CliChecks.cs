// Command-line checks shared by the samples (linked into each sample project, not a library of its own):
// a number option that must be positive or non-negative, and an output folder that must be writable.
// Both turn bad input into a one-line message; the sample prints it and exits with code 2.
using System.CommandLine;
using System.Globalization;

namespace NeuralPrimitives.Samples;

/// <summary>Validators the samples add to their System.CommandLine options.</summary>
internal static class CliChecks
{
    /// <summary>Adds a check that the option's value is positive and finite.</summary>
    public static Option<TValue> Positive<TValue>(Option<TValue> option) => Checked(option, v => v > 0, "positive");

    /// <summary>Adds a check that the option's value is non-negative and finite.</summary>
    public static Option<TValue> NonNegative<TValue>(Option<TValue> option) => Checked(option, v => v >= 0, "non-negative");

    private static Option<TValue> Checked<TValue>(Option<TValue> option, Func<double, bool> ok, string what)
    {
        option.Validators.Add(r =>
        {
            TValue? value;
            try { value = r.GetValueOrDefault<TValue>(); }
            catch (InvalidOperationException) { return; }   // not a number at all: the parser reports that itself
            if (value is not null && Convert.ToDouble(value, CultureInfo.InvariantCulture) is var v && !(ok(v) && double.IsFinite(v)))
                r.AddError($"{option.Name} must be {what}, got {value}.");
        });
        return option;
    }

    /// <summary>Null when a file can be written into the folder (created if needed), else why not.</summary>
    public static string? CheckWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            string probe = Path.Combine(folder, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"cannot write to the output folder '{folder}': {e.Message}";
        }
    }
}
