using BenchmarkDotNet.Running;

// Usage:
//   compare [names...]          our median ms per tracked shape, one JSON object on stdout
//   compare --list              the known case names
//   compare --peer onnx [names] ONNX Runtime's median ms for models/<name>.onnx (all models when
//                               none are named; names without a model are skipped with a note)
//   fma-peak                    the machine's float FMA ceiling (GFLOP/s), to read GEMM rates against
//   windows NAME [threads]      one case's median ms in each of 16 consecutive 0.4 s windows (is the machine steady?)
//   ab BASE_DIR NAME... [--seconds S]
//                               this build against another (benchmarks/ab.sh REV builds one) in one process, in
//                               alternating windows; prints both medians and the paired ratio (default 20 s a case)
//   (anything else)             BenchmarkDotNet (e.g. --filter '*Gemm*')
if (args.Length > 0 && args[0] == "compare")
{
    var rest = args.Skip(1).ToList();
    int peerAt = rest.IndexOf("--peer");
    if (peerAt >= 0)
    {
        string peer = peerAt + 1 < rest.Count ? rest[peerAt + 1] : "";
        rest.RemoveRange(peerAt, Math.Min(2, rest.Count - peerAt));
        if (peer != "onnx")
        {
            Console.Error.WriteLine($"Unknown peer '{peer}' (expected: onnx).");
            return 2;
        }
        Console.WriteLine(CompareRunner.ToJson(OnnxPeer.Run(rest, Console.Error)));
        return 0;
    }
    if (rest.Contains("--list"))
    {
        foreach (var c in CompareRunner.AllCases()) Console.WriteLine(c.Name);
        return 0;
    }
    var results = CompareRunner.Run(rest, Console.Error);
    Console.WriteLine(CompareRunner.ToJson(results));
    return 0;
}
if (args.Length > 1 && args[0] == "windows")
{
    WindowTrace.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : null, Console.Out);
    return 0;
}
if (args.Length > 2 && args[0] == "ab")
{
    var rest = args.Skip(2).ToList();
    double seconds = 20;
    int at = rest.IndexOf("--seconds");
    if (at >= 0)
    {
        seconds = double.Parse(rest[at + 1], System.Globalization.CultureInfo.InvariantCulture);
        rest.RemoveRange(at, 2);
    }
    BuildComparison.Run(args[1], rest, seconds, Console.Out);
    return 0;
}
if (args.Length > 0 && args[0] == "fma-peak")
{
    NeuralPrimitives.Benchmarks.FmaPeak.Run(Console.Out);
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(CompareRunner).Assembly).Run(args);
return 0;
