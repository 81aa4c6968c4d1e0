namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Normalisation shapes of issue 11, float. Peer: benchmarks/peers/cases_norm.py.
/// <list type="bullet">
/// <item><c>layernorm_fwdbwd</c>: <c>LayerNorm(1024)</c> on x [4096, 1024]: forward, backward with a fixed random dy,
/// zero grad (PyTorch: x.requires_grad, grads set to None between steps).</item>
/// </list>
/// </summary>
public sealed class NormSuite : ICompareSuite
{
    private const int Rows = 4096, D = 1024;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("layernorm_fwdbwd", () =>
        {
            var rng = new Rng(1);
            var ln = new LayerNorm<float>(D);
            var input = CompareData.Normal(rng, Rows, D);
            var dOutput = CompareData.Normal(rng, Rows, D);
            return () =>
            {
                ln.Forward(input);
                ln.Backward(dOutput);
                ln.ZeroGrad();
            };
        });
    }
}
