namespace NeuralPrimitives.Benchmarks;

/// <summary>
/// BenchmarkDotNet view of the six recurrent comparison cases (same shapes and paths as
/// <see cref="RecurrentSuite"/>). MemoryDiagnoser shows allocation: Forward + Backward allocate 0 B after
/// warm-up (tested in RecurrentFixtureTests); the ~176 B per training step come from Module.ZeroGrad's
/// iterator walk over NamedParameters(). Infer allocates its results (and, today, its workspace) by contract.
/// Run: dotnet run -c Release --project benchmarks/NeuralPrimitives.Benchmarks -- --filter '*RecurrentBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class RecurrentBenchmarks
{
    private Rnn<float> _rnn = null!, _rnnEval = null!;
    private Lstm<float> _lstm = null!, _lstmEval = null!;
    private Gru<float> _gru = null!, _gruEval = null!;
    private Tensor<float> _x = null!, _ones = null!;

    /// <summary>Builds a training-mode and an evaluation-mode instance of each layer (2 threads, like the peers).</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.NumThreads = 2;
        _rnn = RecurrentSuite.NewRnn();
        _lstm = RecurrentSuite.NewLstm();
        _gru = RecurrentSuite.NewGru();
        (_rnnEval = RecurrentSuite.NewRnn()).Eval();
        (_lstmEval = RecurrentSuite.NewLstm()).Eval();
        (_gruEval = RecurrentSuite.NewGru()).Eval();
        _x = RecurrentSuite.Input();
        _ones = RecurrentSuite.Ones();
    }

    /// <summary>rnn_fwd: inference.</summary>
    [Benchmark] public Tensor<float> RnnFwd() => _rnnEval.Infer(_x).Output;

    /// <summary>rnn_fwdbwd: ZeroGrad, Forward, Backward(ones).</summary>
    [Benchmark] public void RnnFwdBwd() { _rnn.ZeroGrad(); _rnn.Forward(_x); _rnn.Backward(_ones); }

    /// <summary>lstm_fwd: inference.</summary>
    [Benchmark] public Tensor<float> LstmFwd() => _lstmEval.Infer(_x).Output;

    /// <summary>lstm_fwdbwd: ZeroGrad, Forward, Backward(ones).</summary>
    [Benchmark] public void LstmFwdBwd() { _lstm.ZeroGrad(); _lstm.Forward(_x); _lstm.Backward(_ones); }

    /// <summary>gru_fwd: inference.</summary>
    [Benchmark] public Tensor<float> GruFwd() => _gruEval.Infer(_x).Output;

    /// <summary>gru_fwdbwd: ZeroGrad, Forward, Backward(ones).</summary>
    [Benchmark] public void GruFwdBwd() { _gru.ZeroGrad(); _gru.Forward(_x); _gru.Backward(_ones); }
}
