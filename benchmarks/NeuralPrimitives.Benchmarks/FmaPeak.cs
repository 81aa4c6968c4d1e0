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
        Func<long, float> kernel = Vector512.IsHardwareAccelerated ? Chains512 : Chains256;
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

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains512(long n)
    {
        var m = Vector512.Create(0.999999f); var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < n; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains256(long n)
    {
        var m = Vector256.Create(0.999999f); var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < n; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
