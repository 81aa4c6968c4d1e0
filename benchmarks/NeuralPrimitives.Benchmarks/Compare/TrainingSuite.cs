namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// A whole training step of issue 9 (peer: benchmarks/peers/cases_training.py, same name), float,
/// <see cref="Parallelism.NumThreads"/> threads.
/// <list type="bullet">
/// <item><c>lstm_lm_step</c>: Embedding(65, 256) → Lstm(256, 256) → Linear(256, 65) on [T = 64, B = 64] random indices:
/// forward, CrossEntropyLoss against random targets, backward, ClipGradNorm to 1, AdamW (lr 2e-3), ZeroGrad —
/// the sample's baseline model. Dense embedding gradient on both sides (PyTorch's default).</item>
/// </list>
/// </summary>
public sealed class TrainingSuite : ICompareSuite
{
    private const int V = 65, D = 256, T = 64, B = 64;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("lstm_lm_step", LstmLmStep);
    }

    /// <summary>Builds the model and the data; returns one training step.</summary>
    public static Action LstmLmStep()
    {
        var rng = new Rng(0);
        var model = new NeuralPrimitives.Shared.LstmLanguageModel(rng, V, D, D, lr: 2e-3);
        var (inputs, targets) = RandomTokens(rng, V, T, B);
        return () => model.Step(inputs, targets);
    }

    /// <summary>Random inputs and targets of shape [rows, cols] over a vocabulary of <paramref name="vocab"/> (drawn alternately, input then target).</summary>
    internal static (Tensor<int> Inputs, Tensor<int> Targets) RandomTokens(Rng rng, int vocab, int rows, int cols)
    {
        var x = new int[rows * cols];
        var y = new int[rows * cols];
        for (int i = 0; i < x.Length; i++) { x[i] = rng.NextInt(vocab); y[i] = rng.NextInt(vocab); }
        return (Tensor.Create(x, [rows, cols]), Tensor.Create(y, [rows, cols]));
    }
}
