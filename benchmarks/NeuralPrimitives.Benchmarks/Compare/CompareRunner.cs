using System.Diagnostics;
using System.Text.Json;

namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// `compare [names...]`: for each case, warm up (≥ 100 calls and ≥ 2 s, so tiered JIT has settled),
/// then time repeated runs and print one JSON object name → median milliseconds.
/// The warm-up is that long because of tiered PGO: a method runs unoptimised, then instrumented, and
/// only then fully optimised. Measured on lstm_fwd: calls 20–80 took 17–29 ms; from about call 80
/// (≈ 1.6 s) they took 9–11 ms. With 30 calls and 0.3 s, part of that slow phase landed inside the
/// timed window.
/// </summary>
public static class CompareRunner
{
    /// <summary>All cases of every <see cref="ICompareSuite"/> in this assembly.</summary>
    public static IReadOnlyList<CompareCase> AllCases() =>
        typeof(CompareRunner).Assembly.GetTypes()
            .Where(t => typeof(ICompareSuite).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
            .OrderBy(t => t.Name)
            .SelectMany(t => ((ICompareSuite)Activator.CreateInstance(t)!).Cases())
            .ToList();

    /// <summary>Runs the named cases (all when none are named) and returns name → median ms.</summary>
    public static Dictionary<string, double> Run(IReadOnlyCollection<string> names, TextWriter log)
    {
        var all = AllCases();
        var unknown = names.Where(n => all.All(c => c.Name != n)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown case(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", all.Select(c => c.Name))}.", nameof(names));
        var results = new Dictionary<string, double>();
        foreach (var c in all.Where(c => names.Count == 0 || names.Contains(c.Name)))
        {
            results[c.Name] = Math.Round(MedianMilliseconds(c.Setup()), 4);
            log.WriteLine($"{c.Name}: {results[c.Name]} ms");
        }
        return results;
    }

    /// <summary>Median time of <paramref name="run"/> in milliseconds after warm-up.</summary>
    public static double MedianMilliseconds(Action run, double warmupMs = 2000, double measureMs = 1500, int minRuns = 15)
    {
        WarmUp(run, warmupMs);
        return WindowMedian(run, measureMs, minRuns, maxRuns: 2000);
    }

    /// <summary>Calls <paramref name="run"/> at least 100 times and for at least <paramref name="warmupMs"/>.</summary>
    public static void WarmUp(Action run, double warmupMs = 2000)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 100 || sw.Elapsed.TotalMilliseconds < warmupMs; i++) run();
    }

    /// <summary>
    /// Median milliseconds of one call of <paramref name="run"/>, called for <paramref name="windowMs"/> (at least
    /// <paramref name="minRuns"/> and, once the window has passed, at most <paramref name="maxRuns"/> times).
    /// </summary>
    public static double WindowMedian(Action run, double windowMs, int minRuns = 3, int maxRuns = int.MaxValue)
    {
        var times = new List<double>();
        var sw = Stopwatch.StartNew();
        while (times.Count < minRuns || (sw.Elapsed.TotalMilliseconds < windowMs && times.Count < maxRuns))
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>Writes the results as one JSON object.</summary>
    public static string ToJson(Dictionary<string, double> results) => JsonSerializer.Serialize(results);
}
