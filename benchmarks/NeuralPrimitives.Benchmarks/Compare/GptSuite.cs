namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// A GPT training step of issue 11 (peer: benchmarks/peers/cases_gpt.py, same name), float, <see cref="Parallelism.NumThreads"/> threads.
/// <list type="bullet">
/// <item><c>gpt_step</c>: a nanoGPT-shaped model (V = 65, block 128, 4 pre-norm blocks, 4 heads, C = 256, exact GELU,
/// biases, tied head, no dropout) on random tokens [B = 16, L = 128]: forward, CrossEntropyLoss against random targets,
/// backward, ClipGradNorm to 1, AdamW (lr 1e-3), ZeroGrad.</item>
/// <item><c>gelu_fwdbwd</c>: that model's MLP activation, <see cref="Gelu{T}"/> (exact), on its hidden activations
/// [B·L = 2048, 4C = 1024]: Forward, Backward with a fixed random dy.</item>
/// </list>
/// </summary>
public sealed class GptSuite : ICompareSuite
{
    private const int V = 65, L = 128, B = 16;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("gpt_step", GptStep);
        yield return new("gelu_fwdbwd", () =>
        {
            var rng = new Rng(1);
            var gelu = new Gelu<float>();
            var input = CompareData.Normal(rng, B * L, 4 * 256);
            var dOutput = CompareData.Normal(rng, B * L, 4 * 256);
            return () =>
            {
                gelu.Forward(input);
                gelu.Backward(dOutput);
            };
        });
    }

    /// <summary>Builds the model and the data; returns one training step.</summary>
    public static Action GptStep()
    {
        var model = new Gpt<float>(new GptConfig(VocabSize: V, BlockSize: L, NLayer: 4, NHead: 4, NEmbd: 256), seed: 0);
        var parameters = model.Parameters().ToArray();
        var lossFn = new CrossEntropyLoss<float>();
        var optimizer = new AdamW<float>(parameters, lr: 1e-3);
        var (inputs, targets) = TrainingSuite.RandomTokens(new Rng(0), V, B, L);
        return () =>
        {
            lossFn.Forward(model.Forward(inputs), targets);
            model.Backward(lossFn.Backward());
            GradientClipping.ClipGradNorm(parameters, maxNorm: 1.0);
            optimizer.Step();
            optimizer.ZeroGrad();
        };
    }
}
