using BenchmarkDotNet.Running;
using NeuralPrimitives.Benchmarks.Compare;

// Usage:
//   compare [names...]          our median ms per tracked shape, one JSON object on stdout
//   compare --list              the known case names
//   (anything else)             BenchmarkDotNet (e.g. --filter '*Gemm*')
if (args.Length > 0 && args[0] == "compare")
{
    var rest = args.Skip(1).ToList();
    if (rest.Contains("--list"))
    {
        foreach (var c in CompareRunner.AllCases()) Console.WriteLine(c.Name);
        return 0;
    }
    var results = CompareRunner.Run(rest, Console.Error);
    Console.WriteLine(CompareRunner.ToJson(results));
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(CompareRunner).Assembly).Run(args);
return 0;
