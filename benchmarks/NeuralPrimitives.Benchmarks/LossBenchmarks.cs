namespace NeuralPrimitives.Benchmarks;

/// <summary>
/// Cross-entropy Forward + Backward on [rows, 8192] float logits (ce_fwdbwd of the comparison runner is rows = 4096),
/// and the loss alone through Infer. MemoryDiagnoser shows that a training step allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class LossBenchmarks
{
    private const int C = 8192;
    private CrossEntropyLoss<float> _loss = null!;
    private Tensor<float> _logits = null!;
    private Tensor<int> _target = null!;

    /// <summary>Rows of logits.</summary>
    [Params(512, 4096)]
    public int Rows { get; set; }

    /// <summary>Random logits and targets.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(42);
        _logits = CompareData.Normal(rng, Rows, C);
        var target = new int[Rows];
        for (int i = 0; i < Rows; i++) target[i] = rng.NextInt(C);
        _target = Tensor.Create(target, [Rows]);
        _loss = new CrossEntropyLoss<float>();
    }

    /// <summary>Forward (loss and dLogits) then Backward.</summary>
    [Benchmark]
    public float ForwardBackward()
    {
        float l = _loss.Forward(_logits, _target);
        _loss.Backward();
        return l;
    }

    /// <summary>The loss alone (Infer: no gradient, no cache).</summary>
    [Benchmark]
    public float Infer() => _loss.Infer(_logits, _target);
}
