// Huber loss (PyTorch's nn.HuberLoss), and the one definition of the Huber function that
// SmoothL1Loss shares.
//
// The Huber function with threshold δ ≥ 0 and linear slope a > 0, of a difference d = x − t:
//   h(d) = a/(2δ) · d²        if |d| < δ      (quadratic near 0)
//          a · (|d| − δ/2)     otherwise       (linear in the tails, slope a)
//   h′(d) = a/δ · d           if |d| < δ
//           a · sign(d)        otherwise       (h is continuous with a continuous slope at |d| = δ)
//   HuberLoss(δ):     a = δ  →  ½d² near 0, δ(|d| − δ/2) outside          (δ > 0)
//   SmoothL1Loss(β):  a = 1  →  ½d²/β near 0, |d| − β/2 outside = HuberLoss(β)/β   (β = 0: the L1 loss)
//
// Shapes:   input x, target t: the same shape (any rank ≥ 1); per-element loss l: that shape.
// Forward:  l_i = h(x_i − t_i)            L = mean (default), sum, or none of l (ElementwiseLoss.cs)
// Backward: ∂l_i/∂x_i = h′(x_i − t_i)     = clamp(d, −δ, δ) for HuberLoss
namespace NeuralPrimitives;

/// <summary>
/// Huber loss: quadratic <c>½d²</c> for |d| &lt; delta, linear <c>delta·(|d| − delta/2)</c> beyond, with
/// <c>d = input − target</c> (PyTorch's <c>nn.HuberLoss</c>). Less sensitive to outliers than <see cref="MseLoss{T}"/>.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class HuberLoss<T> : ElementwiseLoss<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T _delta;

    /// <summary>Creates the loss.</summary>
    /// <param name="reduction">Mean (default), Sum or None.</param>
    /// <param name="delta">Where the loss turns from quadratic to linear (&gt; 0; default 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delta"/> is not a positive finite number.</exception>
    public HuberLoss(Reduction reduction = Reduction.Mean, double delta = 1.0) : base(reduction)
    {
        if (!(delta > 0) || !double.IsFinite(delta))
            throw new ArgumentOutOfRangeException(nameof(delta), delta, $"delta must be positive and finite (expected > 0), got {delta}.");
        Delta = delta;
        _delta = T.CreateTruncating(delta);
    }

    /// <summary>The threshold between the quadratic and the linear part.</summary>
    public double Delta { get; }

    private protected override T Value(T input, T target, int index) => Huber.Value(input - target, _delta, _delta);

    private protected override T Derivative(T input, T target, int index) => Huber.Derivative(input - target, _delta, _delta);
}

/// <summary>The Huber function h(d) with threshold δ and linear slope a, and its derivative (see the file header).</summary>
internal static class Huber
{
    /// <summary>h(d) = a/(2δ)·d² for |d| &lt; δ, else a·(|d| − δ/2).</summary>
    public static T Value<T>(T d, T delta, T slope) where T : IFloatingPointIeee754<T>
    {
        T abs = T.Abs(d);
        return abs < delta ? slope / (delta + delta) * d * d : slope * (abs - delta / (T.One + T.One));
    }

    /// <summary>h′(d) = a/δ·d for |d| &lt; δ, else a·sign(d).</summary>
    public static T Derivative<T>(T d, T delta, T slope) where T : IFloatingPointIeee754<T> =>
        T.Abs(d) < delta ? slope / delta * d : slope * Sign(d);

    /// <summary>sign(d) ∈ {−1, 0, 1}, NaN for NaN (T.Sign would throw).</summary>
    public static T Sign<T>(T d) where T : IFloatingPointIeee754<T> =>
        d > T.Zero ? T.One : d < T.Zero ? -T.One : d; // d is ±0 or NaN here
}
