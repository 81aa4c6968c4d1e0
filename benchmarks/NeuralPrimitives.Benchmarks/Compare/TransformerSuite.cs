namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Transformer layer shapes of issue 11, float, 2 threads. Peer: benchmarks/peers/cases_transformer.py.
/// <list type="bullet">
/// <item><c>encoder_fwd</c>: one <see cref="TransformerEncoderLayer{T}"/>(256, 8, dimFeedforward 1024, dropout 0, ReLU, batchFirst)
/// on x [B = 8, L = 128, D = 256] in evaluation mode, module-owned output (PyTorch: eval() under no_grad(), which may take
/// its native fast path, torch._transformer_encoder_layer_fwd).</item>
/// <item><c>encoder_fwdbwd</c>: training mode, <c>ZeroGrad()</c>, <c>Forward(x)</c>, <c>Backward(dy)</c> with a fixed random dy,
/// returning ∂L/∂x (PyTorch: x.requires_grad, y.backward(dy)).</item>
/// </list>
/// </summary>
public sealed class TransformerSuite : ICompareSuite
{
    /// <summary>The encoder case: batch, length, width, heads, feed-forward width.</summary>
    public const int B = 8, L = 128, D = 256, Heads = 8, Ff = 1024;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("encoder_fwd", () =>
        {
            var layer = NewLayer();
            layer.Eval();
            var x = CompareData.Normal(1, B, L, D);
            return () => layer.Forward(x);
        });
        yield return new("encoder_fwdbwd", () =>
        {
            var layer = NewLayer();
            var x = CompareData.Normal(1, B, L, D);
            var dy = CompareData.Normal(2, B, L, D);
            return () =>
            {
                layer.ZeroGrad();
                layer.Forward(x);
                layer.Backward(dy);
            };
        });
    }

    /// <summary>The layer of both cases (seed 0).</summary>
    public static TransformerEncoderLayer<float> NewLayer() =>
        new(D, Heads, Ff, dropout: 0, FeedForwardActivation.Relu, batchFirst: true, rng: new Rng(0));
}
