namespace NeuralPrimitives.Benchmarks;

/// <summary>
/// Embedding training step at issue 4's shape (V = 50,000, D = 256, indices [32, 128], float) with
/// MemoryDiagnoser: after warm-up, forward and forward+backward+zero-grad must allocate 0 bytes.
/// Run: dotnet run -c Release --project benchmarks/NeuralPrimitives.Benchmarks -- --filter '*EmbeddingBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class EmbeddingBenchmarks
{
    private const int V = 50_000, D = 256, B = 32, T = 128;
    private Embedding<float> _dense = null!, _sparse = null!;
    private EmbeddingBag<float> _bag = null!;
    private RotaryEmbedding<float> _rope = null!;
    private Tensor<int> _idx = null!, _bagInput = null!, _bagOffsets = null!;
    private Tensor<float> _dOut = null!, _dBag = null!, _q = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(42);
        var idx = new int[B * T];
        for (int i = 0; i < idx.Length; i++) idx[i] = rng.NextInt(V);
        _idx = Tensor.Create(idx, [B, T]);
        _dense = new Embedding<float>(V, D, rng: new Rng(1));
        _sparse = new Embedding<float>(V, D, sparse: true, rng: new Rng(1));
        _dOut = CompareData.Ones(B, T, D);

        _bag = new EmbeddingBag<float>(V, D, EmbeddingBagMode.Mean, sparse: true, rng: new Rng(2));
        _bagInput = Tensor.Create(idx, [B * T]);
        var offsets = new int[B];
        for (int b = 0; b < B; b++) offsets[b] = b * T;
        _bagOffsets = Tensor.Create(offsets, [B]);
        _dBag = Tensor.Create(new float[B * D], [B, D]);

        _rope = new RotaryEmbedding<float>(64);
        _q = CompareData.Normal(rng, B, 8, T, 64);
    }

    /// <summary>Training forward (lookup).</summary>
    [Benchmark]
    public Tensor<float> Forward() => _sparse.Forward(_idx);

    /// <summary>Forward, backward of the sum, zero grad, row-sparse gradient.</summary>
    [Benchmark(Baseline = true)]
    public void ForwardBackwardSparse()
    {
        _sparse.Forward(_idx);
        _sparse.Backward(_dOut);
        _sparse.Weight.ZeroGrad();
    }

    /// <summary>The same with a dense [V, D] gradient (zeroing it costs a 51 MB memset).</summary>
    [Benchmark]
    public void ForwardBackwardDense()
    {
        _dense.Forward(_idx);
        _dense.Backward(_dOut);
        _dense.Weight.ZeroGrad();
    }

    /// <summary>EmbeddingBag (mean over 32 bags of 128) forward + backward + zero grad.</summary>
    [Benchmark]
    public void BagForwardBackward()
    {
        _bag.Forward(_bagInput, _bagOffsets);
        _bag.Backward(_dBag);
        _bag.Weight.ZeroGrad();
    }

    /// <summary>RoPE forward + backward on queries [32, 8, 128, 64].</summary>
    [Benchmark]
    public Tensor<float> RotaryForwardBackward() => _rope.Backward(_rope.Forward(_q, 3));
}
