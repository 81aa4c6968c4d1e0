// Exp / Tanh / Sigmoid: TensorPrimitives (System.Numerics.Tensors 11.0.0) against our kernels in
// Kernels/VectorMath.cs, float and double, 4096 and 65536 elements, inputs uniform in [−10, 10].
// Run: dotnet run -c Release --project benchmarks/NeuralPrimitives.Benchmarks -- --filter '*Activation*'
// Results and accuracy: benchmarks/README.md ("Activations").

namespace NeuralPrimitives.Benchmarks;

[MemoryDiagnoser]
[WarmupCount(5)]
[IterationCount(15)]
public class ActivationBenchmarks
{
    private float[] _xf = [], _yf = [];
    private double[] _xd = [], _yd = [];

    [Params(4096, 65536)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _xf = new float[N]; _yf = new float[N];
        _xd = new double[N]; _yd = new double[N];
        for (int i = 0; i < N; i++) _xd[i] = _xf[i] = (float)(20 * rng.NextDouble() - 10);
    }

    [Benchmark(Baseline = true)] public void ExpF_TensorPrimitives() => TensorPrimitives.Exp(_xf, _yf);
    [Benchmark] public void ExpF_Ours() => VectorMath.Exp<float>(_xf, _yf);
    [Benchmark] public void TanhF_TensorPrimitives() => TensorPrimitives.Tanh(_xf, _yf);
    [Benchmark] public void TanhF_Ours() => VectorMath.Tanh<float>(_xf, _yf);
    [Benchmark] public void SigmoidF_TensorPrimitives() => TensorPrimitives.Sigmoid(_xf, _yf);
    [Benchmark] public void SigmoidF_Ours() => VectorMath.Sigmoid<float>(_xf, _yf);

    [Benchmark] public void ExpD_TensorPrimitives() => TensorPrimitives.Exp(_xd, _yd);
    [Benchmark] public void ExpD_Ours() => VectorMath.Exp<double>(_xd, _yd);
    [Benchmark] public void TanhD_TensorPrimitives() => TensorPrimitives.Tanh(_xd, _yd);
    [Benchmark] public void TanhD_Ours() => VectorMath.Tanh<double>(_xd, _yd);
    [Benchmark] public void SigmoidD_TensorPrimitives() => TensorPrimitives.Sigmoid(_xd, _yd);
    [Benchmark] public void SigmoidD_Ours() => VectorMath.Sigmoid<double>(_xd, _yd);
}
