namespace NeuralPrimitives.Benchmarks;

/// <summary>
/// BenchmarkDotNet view of the two transformer comparison cases (same shapes as <see cref="TransformerSuite"/>):
/// MemoryDiagnoser shows that a training step (ZeroGrad, Forward, Backward) allocates 0 B after warm-up (also tested in
/// TransformerLayerTests.TrainingStepAllocatesNothing).
/// Run: dotnet run -c Release --project benchmarks/NeuralPrimitives.Benchmarks -- --filter '*TransformerBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class TransformerBenchmarks
{
    private TransformerEncoderLayer<float> _train = null!, _eval = null!;
    private Tensor<float> _x = null!, _dy = null!;

    /// <summary>A training-mode and an evaluation-mode layer (2 threads, like the peers).</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.NumThreads = 2;
        _train = TransformerSuite.NewLayer();
        (_eval = TransformerSuite.NewLayer()).Eval();
        _x = CompareData.Normal(1, TransformerSuite.B, TransformerSuite.L, TransformerSuite.D);
        _dy = CompareData.Normal(2, TransformerSuite.B, TransformerSuite.L, TransformerSuite.D);
    }

    /// <summary>encoder_fwd: evaluation-mode Forward (module-owned output).</summary>
    [Benchmark] public Tensor<float> EncoderFwd() => _eval.Forward(_x);

    /// <summary>encoder_fwdbwd: ZeroGrad, Forward, Backward(dy).</summary>
    [Benchmark] public void EncoderFwdBwd() { _train.ZeroGrad(); _train.Forward(_x); _train.Backward(_dy); }
}
