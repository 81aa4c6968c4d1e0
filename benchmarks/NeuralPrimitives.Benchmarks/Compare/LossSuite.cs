namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Loss shapes of issue 9, float. Peer: benchmarks/peers/cases_losses.py.
/// <list type="bullet">
/// <item><c>ce_fwdbwd</c>: <see cref="CrossEntropyLoss{T}"/> (mean, class-index targets) Forward and Backward on logits
/// [4096, 8192] with random targets; the memory bound is one read of the logits and one write of dLogits (2 × 134 MB).
/// PyTorch: F.cross_entropy forward and backward on a requires_grad tensor, its grad set to None between steps.</item>
/// </list>
/// </summary>
public sealed class LossSuite : ICompareSuite
{
    private const int N = 4096, C = 8192;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("ce_fwdbwd", () =>
        {
            var rng = new Rng(42);
            var x = CompareData.Normal(rng, N, C);
            var target = new int[N];
            for (int i = 0; i < N; i++) target[i] = rng.NextInt(C);
            var y = Tensor.Create(target, [N]);
            var loss = new CrossEntropyLoss<float>();
            return () =>
            {
                loss.Forward(x, y);
                loss.Backward();
            };
        });
    }
}
