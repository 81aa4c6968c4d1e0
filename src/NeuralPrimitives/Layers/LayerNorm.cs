// Layer normalisation (Ba, Kiros & Hinton 2016; PyTorch's nn.LayerNorm): every row is shifted to zero
// mean and scaled to unit variance over its normalizedShape dimensions, then scaled and shifted by
// learned γ, β. Unlike batch norm it needs no batch statistics, so training and inference agree.
//
// Shapes:   x, y [..., *normalizedShape], flattened into rows of n = ∏ normalizedShape;
//           weight γ and bias β have normalizedShape (γ = 1, β = 0 at initialisation).
// Forward (per row):
//   μ    = (1/n) Σᵢ xᵢ
//   σ²   = (1/n) Σᵢ (xᵢ − μ)²                  (biased variance, as PyTorch)
//   rstd = 1/√(σ² + ε)
//   x̂ᵢ   = (xᵢ − μ)·rstd                       (mean 0, variance σ²/(σ² + ε) ≈ 1)
//   yᵢ   = γᵢ x̂ᵢ + βᵢ
// Backward, with g = dy ⊙ γ. Since ∂μ/∂xᵢ = 1/n and ∂rstd/∂xᵢ = −rstd³(xᵢ − μ)/n = −rstd²·x̂ᵢ/n,
//   ∂x̂ⱼ/∂xᵢ = rstd·(δᵢⱼ − 1/n − x̂ᵢ x̂ⱼ/n), so
//   dxᵢ  = Σⱼ gⱼ ∂x̂ⱼ/∂xᵢ = rstd·(gᵢ − mean(g) − x̂ᵢ·mean(g ⊙ x̂))
//   dγ  += Σ_rows dy ⊙ x̂        dβ += Σ_rows dy
// The code (shared with RMSNorm, which drops μ) is in Layers/NormalizationLayer.cs.
namespace NeuralPrimitives;

/// <summary>
/// Layer normalisation over the trailing <see cref="NormalizationLayer{T}.NormalizedShape"/> dimensions
/// (PyTorch's <c>nn.LayerNorm</c>): <c>y = (x − mean(x)) / √(var(x) + eps) · weight + bias</c>.
/// Parameters: <c>weight</c> and <c>bias</c>, each of the normalized shape.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LayerNorm<T> : NormalizationLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Normalises over the last dimension of size <paramref name="normalizedShape"/>.</summary>
    /// <param name="normalizedShape">Size of the last dimension (≥ 1).</param>
    /// <param name="eps">Added to the variance for numerical stability (default 1e-5, as PyTorch).</param>
    /// <param name="elementwiseAffine">Whether to learn <c>weight</c> (and <c>bias</c>); default true.</param>
    /// <param name="bias">Whether to learn <c>bias</c> when <paramref name="elementwiseAffine"/> (default true).</param>
    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true)
        : this([normalizedShape], eps, elementwiseAffine, bias) { }

    /// <summary>Normalises over the last <c>normalizedShape.Length</c> dimensions, which must equal <paramref name="normalizedShape"/>.</summary>
    /// <param name="normalizedShape">The trailing dimensions to normalise over (each ≥ 1), e.g. <c>[C, H, W]</c>.</param>
    /// <param name="eps">Added to the variance for numerical stability (default 1e-5, as PyTorch).</param>
    /// <param name="elementwiseAffine">Whether to learn <c>weight</c> (and <c>bias</c>); default true.</param>
    /// <param name="bias">Whether to learn <c>bias</c> when <paramref name="elementwiseAffine"/> (default true).</param>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true)
        : base(normalizedShape, eps, elementwiseAffine, bias, centered: true) { }

    /// <summary>The shift β with the normalized shape (initialised to 0), or null without elementwise affine or bias.</summary>
    public Parameter<T>? Bias => BiasParameter;
}
