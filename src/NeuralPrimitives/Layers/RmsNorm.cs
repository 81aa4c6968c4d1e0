// Root-mean-square layer normalisation (Zhang & Sennrich 2019; PyTorch 2.4's nn.RMSNorm): LayerNorm
// without the mean subtraction and without β. Rows are only rescaled, which is cheaper and worked as
// well in the modern decoders (T5, LLaMA).
//
// Shapes:   x, y [..., *normalizedShape], flattened into rows of n = ∏ normalizedShape;
//           weight γ has normalizedShape (γ = 1 at initialisation).
// Forward (per row):
//   rstd = 1/√((1/n) Σᵢ xᵢ² + ε)               (ε defaults to the machine epsilon of T, as PyTorch's eps=None)
//   x̂ᵢ   = xᵢ·rstd
//   yᵢ   = γᵢ x̂ᵢ
// Backward, with g = dy ⊙ γ. Since ∂rstd/∂xᵢ = −rstd³·xᵢ/n, ∂x̂ⱼ/∂xᵢ = rstd·(δᵢⱼ − x̂ᵢ x̂ⱼ/n), so
//   dxᵢ  = rstd·(gᵢ − x̂ᵢ·mean(g ⊙ x̂))          (LayerNorm's formula without the mean(g) term)
//   dγ  += Σ_rows dy ⊙ x̂
// The code (shared with LayerNorm, with μ = 0) is in Layers/NormalizationLayer.cs.
namespace NeuralPrimitives;

/// <summary>
/// RMS normalisation over the trailing <see cref="NormalizationLayer{T}.NormalizedShape"/> dimensions
/// (PyTorch 2.4's <c>nn.RMSNorm</c>): <c>y = x / √(mean(x²) + eps) · weight</c>. Parameter: <c>weight</c>
/// of the normalized shape.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class RmsNorm<T> : NormalizationLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Normalises over the last dimension of size <paramref name="normalizedShape"/>.</summary>
    /// <param name="normalizedShape">Size of the last dimension (≥ 1).</param>
    /// <param name="eps">Added to the mean square; null (the default) uses the machine epsilon of <typeparamref name="T"/>
    /// (PyTorch's <c>eps=None</c>, <c>torch.finfo(dtype).eps</c>: 2⁻²³ for float, 2⁻⁵² for double).</param>
    /// <param name="elementwiseAffine">Whether to learn <c>weight</c> (default true).</param>
    public RmsNorm(int normalizedShape, double? eps = null, bool elementwiseAffine = true)
        : this([normalizedShape], eps, elementwiseAffine) { }

    /// <summary>Normalises over the last <c>normalizedShape.Length</c> dimensions, which must equal <paramref name="normalizedShape"/>.</summary>
    /// <param name="normalizedShape">The trailing dimensions to normalise over (each ≥ 1).</param>
    /// <param name="eps">Added to the mean square; null (the default) uses the machine epsilon of <typeparamref name="T"/>.</param>
    /// <param name="elementwiseAffine">Whether to learn <c>weight</c> (default true).</param>
    public RmsNorm(int[] normalizedShape, double? eps = null, bool elementwiseAffine = true)
        : base(normalizedShape, eps ?? MachineEpsilon, elementwiseAffine, bias: false, centered: false) { }

    /// <summary>The gap between 1 and the next larger <typeparamref name="T"/> (<c>torch.finfo(dtype).eps</c>).</summary>
    public static double MachineEpsilon => double.CreateTruncating(T.BitIncrement(T.One) - T.One);
}
