// Kullback–Leibler divergence (PyTorch's nn.KLDivLoss). The input is a log-probability log q (e.g. a
// LogSoftmax output); the target is a probability p, or log p when logTarget is set.
//
// Shapes:   input x = log q, target t: the same shape (any rank ≥ 1); l: that shape.
// Forward:  l_i = p_i·(log p_i − x_i)         with 0·log 0 = 0:   t = p                 (logTarget false)
//           l_i = e^(t_i)·(t_i − x_i)                               t = log p             (logTarget true)
//           L = mean over all elements (the default, as PyTorch; not the KL divergence of each row),
//               BatchMean = sum / x's first dimension (the KL divergence per sample: use this), sum, or none.
// Backward: ∂l_i/∂x_i = −p_i                  (−e^(t_i) with logTarget)
namespace NeuralPrimitives;

/// <summary>
/// The Kullback–Leibler divergence KL(p ‖ q) = Σ p·(log p − log q) between a target distribution p and the
/// distribution q whose log-probabilities are the input (PyTorch's <c>nn.KLDivLoss</c>).
/// </summary>
/// <remarks>
/// As in PyTorch, <see cref="Reduction.Mean"/> divides by the element count, which is not the divergence per
/// sample; <see cref="Reduction.BatchMean"/> (divide by the first dimension) is.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
/// <param name="reduction">Mean (default, as PyTorch), BatchMean, Sum or None.</param>
/// <param name="logTarget">Whether the target holds log-probabilities instead of probabilities.</param>
public sealed class KlDivLoss<T>(Reduction reduction = Reduction.Mean, bool logTarget = false) : ElementwiseLoss<T>(reduction, batchMeanAllowed: true)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Whether the target holds log-probabilities.</summary>
    public bool LogTarget { get; } = logTarget;

    private protected override T Value(T input, T target, int index) =>
        LogTarget ? T.Exp(target) * (target - input) : XLogX(target) - target * input;

    private protected override T Derivative(T input, T target, int index) => LogTarget ? -T.Exp(target) : -target;

    /// <summary>p·log p, with 0·log 0 = 0 (PyTorch's <c>xlogy(p, p)</c>).</summary>
    private static T XLogX(T p) => p == T.Zero ? T.Zero : p * T.Log(p);
}
