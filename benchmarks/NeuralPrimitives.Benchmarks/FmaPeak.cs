// `fma-peak`: the machine's arithmetic ceiling, to read GEMM GFLOP/s against.
// A register-only loop of 12 independent fused multiply-add chains on the widest hardware vector
// (no memory traffic, no dependency stalls): 2 flops per lane per FMA. Run once on one thread and
// once on every core at the same time; the best of several rounds is reported.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NeuralPrimitives.Benchmarks;

/// <summary>Measures peak float FMA throughput (GFLOP/s) per thread and for all cores.</summary>
public static class FmaPeak
{
    private const long Iterations = 20_000_000;

    /// <summary>Prints the single-thread and all-core float FMA ceiling.</summary>
    public static void Run(TextWriter output)
    {
        int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
        Func<long, float> kernel = Vector512.IsHardwareAccelerated ? Chains<Vector512<float>, Fma512> : Chains<Vector256<float>, Fma256>;
        kernel(1000); // JIT
        double flopsPerCall = Iterations * 12.0 * lanes * 2;
        double Best(int threads)
        {
            double best = 0;
            for (int round = 0; round < 5; round++)
            {
                var sw = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => kernel(Iterations));
                best = Math.Max(best, threads * flopsPerCall / sw.Elapsed.TotalSeconds / 1e9);
            }
            return best;
        }
        int cores = Environment.ProcessorCount;
        output.WriteLine($"float FMA ceiling ({(lanes == 16 ? "Vector512" : "Vector256")}, 12 independent chains):");
        output.WriteLine($"  1 thread : {Best(1):F0} GFLOP/s");
        output.WriteLine($"  {cores} threads: {Best(cores):F0} GFLOP/s (double: half of these)");
    }

    /// <summary>The four vector operations the chains need, at one width.</summary>
    private interface IFmaVector<TV> where TV : struct
    {
        static abstract TV Create(float value);
        static abstract TV Fma(TV a, TV b, TV c);
        static abstract TV Add(TV a, TV b);
        static abstract float Sum(TV v);
    }

    private struct Fma512 : IFmaVector<Vector512<float>>
    {
        public static Vector512<float> Create(float value) => Vector512.Create(value);
        public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
        public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
        public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    }

    private struct Fma256 : IFmaVector<Vector256<float>>
    {
        public static Vector256<float> Create(float value) => Vector256.Create(value);
        public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
        public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
        public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    }

    /// <summary>12 independent chains a ← a·m + c, <paramref name="n"/> steps each; returns their sum (so nothing is dead code).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains<TV, TOps>(long n) where TV : struct where TOps : IFmaVector<TV>
    {
        TV m = TOps.Create(0.999999f), c = TOps.Create(1e-7f);
        TV a0 = TOps.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < n; i++)
        {
            a0 = TOps.Fma(a0, m, c); a1 = TOps.Fma(a1, m, c);
            a2 = TOps.Fma(a2, m, c); a3 = TOps.Fma(a3, m, c);
            a4 = TOps.Fma(a4, m, c); a5 = TOps.Fma(a5, m, c);
            a6 = TOps.Fma(a6, m, c); a7 = TOps.Fma(a7, m, c);
            a8 = TOps.Fma(a8, m, c); a9 = TOps.Fma(a9, m, c);
            a10 = TOps.Fma(a10, m, c); a11 = TOps.Fma(a11, m, c);
        }
        var sum = TOps.Add(TOps.Add(TOps.Add(TOps.Add(a0, a1), TOps.Add(a2, a3)), TOps.Add(TOps.Add(a4, a5), TOps.Add(a6, a7))),
            TOps.Add(TOps.Add(a8, a9), TOps.Add(a10, a11)));
        return TOps.Sum(sum);
    }
}
