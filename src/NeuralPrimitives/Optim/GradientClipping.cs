// Gradient clipping: bound the size of a gradient step (PyTorch's torch.nn.utils.clip_grad_norm_
// and clip_grad_value_).
//
// Why recurrent networks need it. Backpropagation through time multiplies the gradient by the
// step Jacobian once per timestep:
//     ∂L/∂h_t = Σ_{s ≥ t} (∂L/∂h_s)_local · Π_{k=t+1..s} J_k,   J_k = ∂h_k/∂h_{k−1} = diag(φ'(a_k))·W_hh
// so a contribution from s − t steps away is scaled roughly like ‖W_hh‖^(s−t). When the largest
// singular value of W_hh (times φ') is below 1 the product shrinks geometrically (vanishing
// gradients, which gates in LSTM/GRU address); when it is above 1 it grows geometrically
// (exploding gradients): one long sequence can produce a gradient many orders of magnitude
// larger than usual, and a single SGD step with it throws the weights far away (a loss spike or
// NaN). Clipping leaves the direction of the gradient alone and only bounds its length
// (Pascanu, Mikolov & Bengio 2013), which is why min-char-rnn and most RNN training loops clip.
//
// Clip by global norm (ClipGradNorm), over all gradients g_1..g_n of the given parameters
// treated as one long vector:
//     total = (Σ_k Σ_i |g_k[i]|^p)^(1/p)                 p = normType (2 by default)
//     total = max_k max_i |g_k[i]|                       p = ∞
//     coef  = maxNorm / (total + 1e-6)                   (PyTorch's epsilon, avoids 0/0)
//     g_k  ← g_k · min(coef, 1)                          for every k (no change when total ≤ maxNorm)
//     returns total (the norm BEFORE clipping; log it to see explosions)
// A NaN or infinite total propagates as in PyTorch (coef = NaN or 0 multiplies every gradient).
//
// Clip by value (ClipGradValue): g_k[i] ← clamp(g_k[i], −v, v) element-wise.
//
// Row-sparse gradients (Parameter.SparseGrad, e.g. an embedding table): the gradient is zero
// outside the touched rows, so only those rows add to the norm and only they are scaled or
// clamped — O(touched rows), never O(table). (A parameter with a row-sparse gradient has no dense
// Grad buffer: Parameter.Grad refuses to hand one out.)
// Parameters with RequiresGrad = false are skipped (PyTorch skips parameters whose .grad is None).
namespace NeuralPrimitives;

/// <summary>
/// Gradient clipping by global norm and by value (PyTorch's <c>torch.nn.utils.clip_grad_norm_</c> and
/// <c>clip_grad_value_</c>), for dense and row-sparse gradients. Call it after <c>Backward</c> and
/// before the optimiser step.
/// </summary>
public static class GradientClipping
{
    /// <summary>The term PyTorch adds to the total norm before dividing: <c>coef = maxNorm / (total + 1e-6)</c>.</summary>
    public const double Epsilon = 1e-6;

    /// <summary>
    /// Scales all gradients of <paramref name="parameters"/> so that their global
    /// <paramref name="normType"/>-norm is at most <paramref name="maxNorm"/>, and returns the global norm
    /// before clipping. Gradients are multiplied by <c>min(maxNorm / (total + 1e-6), 1)</c>, exactly as PyTorch
    /// does (so below the threshold nothing changes).
    /// </summary>
    /// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
    /// <param name="parameters">The parameters whose gradients are clipped together (e.g. <c>module.Parameters()</c>). Enumerated once; pass an array (<c>module.Parameters().ToArray()</c>) to allocate nothing.
    /// Parameters with <see cref="Parameter{T}.RequiresGrad"/> false are skipped.</param>
    /// <param name="maxNorm">Largest allowed global norm (≥ 0, not NaN; +∞ never clips).</param>
    /// <param name="normType">The p of the p-norm (&gt; 0), or <see cref="double.PositiveInfinity"/> for the max-abs norm. Default 2.</param>
    /// <returns>The total norm of all gradients before clipping (0 when there are none), computed in double precision.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> or one of its elements is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is negative or NaN, or <paramref name="normType"/> is not &gt; 0.</exception>
    public static double ClipGradNorm<T>(IEnumerable<Parameter<T>> parameters, double maxNorm, double normType = 2)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"maxNorm must be ≥ 0 (expected a number in [0, ∞]), got {maxNorm}.");
        if (!(normType > 0))
            throw new ArgumentOutOfRangeException(nameof(normType), normType, $"normType must be > 0 or +∞ (e.g. 2, 1 or double.PositiveInfinity), got {normType}.");

        bool inf = double.IsPositiveInfinity(normType);
        var list = AsList(parameters);
        // Pass 1: accumulate Σ|g|^p (or max|g|) over every gradient, dense and sparse.
        double acc = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            if (!Include(p, nameof(parameters))) continue;
            if (p.HasDenseGrad) acc = Accumulate<T>(p.Grad, acc, normType, inf);
            var sparse = p.SparseGrad;
            if (sparse is not null)
                for (int s = 0; s < sparse.Count; s++) acc = Accumulate<T>(sparse.SlotValues(s), acc, normType, inf);
        }
        double total = inf ? acc : normType == 2 ? Math.Sqrt(acc) : normType == 1 ? acc : Math.Pow(acc, 1 / normType);

        // Pass 2: g ← g · min(coef, 1). Math.Min propagates NaN, as torch.clamp does.
        double scale = Math.Min(maxNorm / (total + Epsilon), 1.0);
        if (scale == 1.0) return total;
        var factor = T.CreateTruncating(scale);
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            if (!p.RequiresGrad) continue;
            if (p.HasDenseGrad) TensorPrimitives.Multiply(p.Grad, factor, p.Grad);
            var sparse = p.SparseGrad;
            if (sparse is not null)
                for (int s = 0; s < sparse.Count; s++)
                {
                    var row = sparse.SlotValues(s);
                    TensorPrimitives.Multiply(row, factor, row);
                }
        }
        return total;
    }

    /// <summary>
    /// Clamps every gradient element of <paramref name="parameters"/> to [−<paramref name="clipValue"/>, <paramref name="clipValue"/>]
    /// (PyTorch's <c>clip_grad_value_</c>). NaN elements stay NaN.
    /// </summary>
    /// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
    /// <param name="parameters">The parameters whose gradients are clamped. Parameters with <see cref="Parameter{T}.RequiresGrad"/> false are skipped.</param>
    /// <param name="clipValue">The bound v ≥ 0 (not NaN).</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> or one of its elements is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="clipValue"/> is negative or NaN.</exception>
    public static void ClipGradValue<T>(IEnumerable<Parameter<T>> parameters, double clipValue)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(clipValue >= 0))
            throw new ArgumentOutOfRangeException(nameof(clipValue), clipValue, $"clipValue must be ≥ 0 (expected a number in [0, ∞]), got {clipValue}.");
        var hi = T.CreateTruncating(clipValue);
        var lo = -hi;
        var list = AsList(parameters);
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            if (!Include(p, nameof(parameters))) continue;
            if (p.HasDenseGrad) Clamp(p.Grad, lo, hi);
            var sparse = p.SparseGrad;
            if (sparse is not null)
                for (int s = 0; s < sparse.Count; s++) Clamp(sparse.SlotValues(s), lo, hi);
        }
    }

    // An array or list is walked by index (no enumerator allocated: a training step stays allocation-free);
    // any other sequence is enumerated once.
    private static IReadOnlyList<Parameter<T>> AsList<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        parameters as IReadOnlyList<Parameter<T>> ?? parameters.ToArray();

    // Null check and RequiresGrad filter.
    private static bool Include<T>(Parameter<T>? p, string argument) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (p is null) throw new ArgumentNullException(argument, $"{argument} must not contain null (expected Parameter<{typeof(T).Name}> instances, got a null element).");
        return p.RequiresGrad;
    }

    // acc + Σ|g|^p, or max(acc, max|g|) for the ∞-norm. Sums of squares use TensorPrimitives
    // (vectorised); the result is carried in double.
    private static double Accumulate<T>(ReadOnlySpan<T> g, double acc, double p, bool inf) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (g.IsEmpty) return acc;
        if (inf)
        {
            double m = double.CreateTruncating(T.Abs(TensorPrimitives.MaxMagnitude(g)));
            return double.IsNaN(m) || double.IsNaN(acc) ? double.NaN : Math.Max(acc, m);
        }
        if (p == 2)
        {
            if (typeof(T) == typeof(double)) return acc + double.CreateTruncating(TensorPrimitives.SumOfSquares(g));
            if (typeof(T) == typeof(float)) return acc + SumOfSquaresInDouble(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(g));
            double s = 0;
            foreach (var v in g) { double d = double.CreateTruncating(v); s += d * d; }
            return acc + s;
        }
        if (p == 1)
        {
            double s = 0;
            foreach (var v in g) s += Math.Abs(double.CreateTruncating(v));
            return acc + s;
        }
        double sp = 0;
        foreach (var v in g) sp += Math.Pow(Math.Abs(double.CreateTruncating(v)), p);
        return acc + sp;
    }

    // Σ g² for float gradients, squared and summed in double (widened lane by lane) so that a
    // gradient of millions of elements keeps its digits; vectorised with Vector<T>.
    private static double SumOfSquaresInDouble(ReadOnlySpan<float> g)
    {
        var acc0 = Vector<double>.Zero;
        var acc1 = Vector<double>.Zero;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= g.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(g.Slice(i, Vector<float>.Count)), out var lo, out var hi);
                acc0 += lo * lo;
                acc1 += hi * hi;
            }
        }
        double s = Vector.Sum(acc0 + acc1);
        for (; i < g.Length; i++) s += (double)g[i] * g[i];
        return s;
    }

    private static void Clamp<T>(Span<T> g, T lo, T hi) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        TensorPrimitives.Max(g, lo, g);
        TensorPrimitives.Min(g, hi, g);
    }
}
