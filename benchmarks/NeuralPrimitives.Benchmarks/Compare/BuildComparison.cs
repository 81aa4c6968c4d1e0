using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;

namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// <c>ab BASE_DIR NAME... [--seconds S]</c>: this build of the library against another one (BASE_DIR holds that build's
/// NeuralPrimitives.Benchmarks.dll and NeuralPrimitives.dll, e.g. from <c>benchmarks/ab.sh REV</c>), each compare case run
/// by both in ONE process, in alternating 0.25 s windows (base, this, this, base, ...). On the shared 2-vCPU hosts the
/// speed of the machine moves between levels from minute to minute, so two separate runs of a case can differ by more
/// than the change being measured; windows that alternate within a second see the same machine state, and the median
/// of their paired ratios cancels the drift. Run with the same folder twice (<c>ab</c> against a copy of this build) to
/// see what "no change" looks like on the host.
/// </summary>
public static class BuildComparison
{
    private const double WindowMs = 250;

    /// <summary>Times each named case with both builds and prints one line per case.</summary>
    public static void Run(string baseDirectory, IReadOnlyList<string> names, double seconds, TextWriter output)
    {
        var baseCases = LoadCases(baseDirectory);
        var ours = CompareRunner.AllCases().ToDictionary(c => c.Name, c => c.Setup);
        foreach (var name in names)
        {
            if (!ours.TryGetValue(name, out var ourSetup))
                throw new ArgumentException($"Unknown case '{name}' (see compare --list).", nameof(names));
            if (!baseCases.TryGetValue(name, out var baseSetup))
                throw new ArgumentException($"The build in {baseDirectory} has no case '{name}'.", nameof(names));
            Action[] runs = [baseSetup(), ourSetup()];
            foreach (var run in runs) CompareRunner.WarmUp(run);
            var medians = new[] { new List<double>(), new List<double>() };
            var ratios = new List<double>();
            var clock = Stopwatch.StartNew();
            for (int pair = 0; pair == 0 || clock.Elapsed.TotalSeconds < seconds; pair++)
            {
                // ABBA order: neither build always runs right after the other's windows.
                int first = pair % 2;
                double a = CompareRunner.WindowMedian(runs[first], WindowMs), b = CompareRunner.WindowMedian(runs[1 - first], WindowMs);
                double baseMs = first == 0 ? a : b, ourMs = first == 0 ? b : a;
                medians[0].Add(baseMs);
                medians[1].Add(ourMs);
                ratios.Add(ourMs / baseMs);
            }
            output.WriteLine($"{name}: base {Median(medians[0]):F3} ms, this {Median(medians[1]):F3} ms; this/base per window pair " +
                $"median {Median(ratios):F3} (quartiles {Quantile(ratios, 0.25):F3}–{Quantile(ratios, 0.75):F3}, {ratios.Count} pairs)");
        }
    }

    /// <summary>The compare cases of the build in <paramref name="directory"/>, loaded beside this one.</summary>
    private static Dictionary<string, Func<Action>> LoadCases(string directory)
    {
        string path = Path.Combine(Path.GetFullPath(directory), "NeuralPrimitives.Benchmarks.dll");
        if (!File.Exists(path)) throw new ArgumentException($"No NeuralPrimitives.Benchmarks.dll in {directory}.", nameof(directory));
        var context = new BuildContext(Path.GetDirectoryName(path)!);
        var runner = context.LoadFromAssemblyPath(path).GetType(typeof(CompareRunner).FullName!, throwOnError: true)!;
        var cases = (System.Collections.IEnumerable)runner.GetMethod(nameof(CompareRunner.AllCases))!.Invoke(null, null)!;
        var result = new Dictionary<string, Func<Action>>();
        foreach (object c in cases)
        {
            var type = c.GetType();
            result[(string)type.GetProperty(nameof(CompareCase.Name))!.GetValue(c)!] =
                (Func<Action>)type.GetProperty(nameof(CompareCase.Setup))!.GetValue(c)!;
        }
        return result;
    }

    /// <summary>Loads the library and the benchmarks from one folder; everything else (BCL, packages) is shared.</summary>
    private sealed class BuildContext(string directory) : AssemblyLoadContext("base build")
    {
        protected override Assembly? Load(AssemblyName name)
        {
            string file = Path.Combine(directory, name.Name + ".dll");
            return name.Name is "NeuralPrimitives" or "NeuralPrimitives.Benchmarks" && File.Exists(file) ? LoadFromAssemblyPath(file) : null;
        }
    }

    private static double Median(List<double> values) => Quantile(values, 0.5);

    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToList();
        return sorted[(int)Math.Round(q * (sorted.Count - 1))];
    }
}
