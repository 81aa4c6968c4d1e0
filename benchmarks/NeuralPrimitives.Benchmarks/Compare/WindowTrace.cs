namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// <c>windows NAME [threads]</c>: one compare case's median time in each of 16 consecutive 0.4 s windows of one process,
/// after warm-up. Shows whether a slow figure is the process (every window slow) or the machine (the speed moving between
/// levels within the process: on the 2-vCPU hosts mha_fwd's two-thread time moved between 5.2, 6.7 and 9.6 ms from window to
/// window, while with one thread it held 10 ms).
/// </summary>
public static class WindowTrace
{
    /// <summary>Prints the window medians of case <paramref name="name"/> on one line.</summary>
    public static void Run(string name, int? threads, TextWriter output)
    {
        if (threads is int t) Parallelism.NumThreads = t;
        var found = CompareRunner.AllCases().FirstOrDefault(c => c.Name == name)
            ?? throw new ArgumentException($"Unknown case '{name}' (see compare --list).", nameof(name));
        var run = found.Setup();
        CompareRunner.WarmUp(run);
        var medians = new List<string>();
        for (int w = 0; w < 16; w++) medians.Add($"{CompareRunner.WindowMedian(run, 400):F3}");
        output.WriteLine($"{name} ({Parallelism.NumThreads} threads), ms per 0.4 s window: {string.Join(" ", medians)}");
    }
}
