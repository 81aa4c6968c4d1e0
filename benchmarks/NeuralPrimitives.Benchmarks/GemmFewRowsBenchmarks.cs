namespace NeuralPrimitives.Benchmarks;

/// <summary>
/// The per-thread product of a recurrent step: h[M×256] · W[256×1024] added into the gates (beta = 1,
/// W row-major, read directly), on one thread, as each thread runs it when a batch of 2·M sequences is
/// split between two threads. <see cref="EightRowTiles"/> false forces the 12-row micro-kernel, to show
/// what the 8-row one gains: M = 16 pads to 24 rows with 12-row tiles, M = 32 to 36.
/// Run: <c>dotnet run -c Release --project benchmarks/NeuralPrimitives.Benchmarks -- --filter '*GemmFewRows*'</c>.
/// </summary>
[MemoryDiagnoser]
public class GemmFewRowsBenchmarks
{
    private float[] _h = [], _w = [], _g = [];
    private int _threads;

    /// <summary>Rows of the product (sequences one thread handles).</summary>
    [Params(16, 32)] public int M { get; set; }

    /// <summary>Whether the 8-row tiles may be used (the library's default).</summary>
    [Params(true, false)] public bool EightRowTiles { get; set; }

    /// <summary>Random inputs, allocated once; one thread.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        float[] F(int len) { var x = new float[len]; rng.FillNormal<float>(x); return x; }
        (_h, _w, _g) = (F(M * 256), F(256 * 1024), F(M * 1024));
        _threads = Parallelism.NumThreads;
        Parallelism.NumThreads = 1;
    }

    /// <summary>Restores the thread count.</summary>
    [GlobalCleanup]
    public void Cleanup() => Parallelism.NumThreads = _threads;

    /// <summary>One step's product, M×256×1024.</summary>
    [Benchmark]
    public void Step()
    {
        Gemm.NoEightRowTiles = !EightRowTiles;
        Gemm.Multiply(transposeA: false, transposeB: false, M, 1024, 256, 1f, _h, _w, 1f, _g);
    }
}
