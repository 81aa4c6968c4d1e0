using static NeuralPrimitives.Benchmarks.Compare.CompareData;

namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Attention (issue 10), float, peers: benchmarks/peers/cases_attention.py (PyTorch) and models/mha_fwd.onnx (ONNX Runtime).
/// <list type="bullet">
/// <item><c>mha_fwd</c>: <see cref="MultiheadAttention{T}"/>(256, 8, batchFirst) self-attention on x [B = 8, L = 128, D = 256] in
/// evaluation mode, <c>needWeights: false</c> (the memory-efficient path), module-owned output (PyTorch: eval() + no_grad()).</item>
/// <item><c>mha_fwdbwd</c>: <c>ZeroGrad()</c>, <c>Forward(x, x, x, needWeights: false)</c>, <c>Backward(ones)</c> (the gradient of
/// <c>output.sum()</c>, also returning ∂L/∂x).</item>
/// <item><c>sdpa_causal4096_fwd</c>: <see cref="ScaledDotProductAttention{T}"/> forward of q, k, v [1, 8, 4096, 64], causal, no weights.
/// PyTorch 1.13 has no fused kernel: its peer is matmul, masked_fill, softmax, matmul.</item>
/// <item><c>sdpa_causal4096_fwdbwd</c>: forward and <c>Backward(ones)</c>.</item>
/// </list>
/// Useful work (masked pairs not counted): a causal forward does 4·d·BH·L(L+1)/2 flops (Q·Kᵀ and P·V over the visible pairs),
/// ≈ 17.2 GFLOP here; forward + backward counts 3.5× that (the backward recomputes S and does four more products).
/// </summary>
public sealed class AttentionSuite : ICompareSuite
{
    /// <summary>MHA case: batch, length, width, heads.</summary>
    public const int MhaBatch = 8, MhaLength = 128, MhaWidth = 256, MhaHeads = 8;

    /// <summary>SDPA case: heads, length, head width.</summary>
    public const int SdpaHeads = 8, SdpaLength = 4096, SdpaHeadDim = 64;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("mha_fwd", () =>
        {
            var m = NewMha();
            m.Eval();
            var x = Normal(1, MhaBatch, MhaLength, MhaWidth);
            return () => m.Forward(x, x, x, needWeights: false);
        });
        yield return new("mha_fwdbwd", () =>
        {
            var m = NewMha();
            var x = Normal(1, MhaBatch, MhaLength, MhaWidth);
            var ones = Ones(MhaBatch, MhaLength, MhaWidth);
            return () =>
            {
                m.ZeroGrad();
                m.Forward(x, x, x, needWeights: false);
                m.Backward(ones);
            };
        });
        yield return new("sdpa_causal4096_fwd", () =>
        {
            var (sdpa, q, k, v, options) = NewSdpa();
            return () => sdpa.Forward(q, k, v, options: options);
        });
        yield return new("sdpa_causal4096_fwdbwd", () =>
        {
            var (sdpa, q, k, v, options) = NewSdpa();
            var ones = Ones(1, SdpaHeads, SdpaLength, SdpaHeadDim);
            return () =>
            {
                sdpa.Forward(q, k, v, options: options);
                sdpa.Backward(ones);
            };
        });
    }

    /// <summary>The MHA of the mha_* cases (seed 0).</summary>
    public static MultiheadAttention<float> NewMha() => new(MhaWidth, MhaHeads, batchFirst: true, rng: new Rng(0));

    private static (ScaledDotProductAttention<float>, Tensor<float>, Tensor<float>, Tensor<float>, AttentionOptions) NewSdpa() =>
        (new ScaledDotProductAttention<float>(),
         Normal(2, 1, SdpaHeads, SdpaLength, SdpaHeadDim), Normal(3, 1, SdpaHeads, SdpaLength, SdpaHeadDim), Normal(4, 1, SdpaHeads, SdpaLength, SdpaHeadDim),
         new AttentionOptions { IsCausal = true });

}
