// Cross-entropy of logits against class indices or class probabilities (PyTorch's nn.CrossEntropyLoss),
// fused with a stable log-softmax; its backward is the well-known softmax − target.
//
// Shapes:   logits x [..., C] with the class axis LAST (PyTorch: axis 1; see ClassTargets.cs), rows n over the
//           leading dimensions. Targets: class indices y [...] (x's shape without its last axis), or class
//           probabilities t [..., C] (x's shape). Class weights w [C] (absent = 1). Per-row loss l [...].
// Target distribution q_n (not normalised when weighted), with label smoothing ε ∈ [0, 1]:
//   indices:        q_{n,c} = (1 − ε)·w_{y_n}·[c = y_n] + (ε/C)·w_c        (q_n = 0 where y_n = ignoreIndex)
//   probabilities:  q_{n,c} = w_c·((1 − ε)·t_{n,c} + ε/C)
//   Q_n = Σ_c q_{n,c}
// Forward (per row; m = max_c x_c, z_c = x_c − m ≤ 0 so no exponent overflows: logits of ±1e4 are exact):
//   log p_c = z_c − log S,   S = Σ_c e^(z_c)
//   l_n = −Σ_c q_c·log p_c = Q·log S − Σ_c q_c·z_c
//   L = Σ_n l_n / D  (Mean: D = Σ_{kept n} w_{y_n} for indices, PyTorch's weighted mean; D = the row count for
//       probabilities, as PyTorch 1.13),  Σ_n l_n (Sum),  or l (None)
// Backward (∂l_n/∂x_c = Q·p_c − q_c):
//   dx_{n,c} = u_n · s · (Q_n·e^(z_c)/S − q_{n,c})      (u_n the upstream gradient, s = 1/D, 1; see Loss.cs)
//
// The fused pass: Forward already computes the gradient for u = 1 while each row is in cache (max, then
// e^z written into the dLogits row and summed, then scaled in place), so the logits are read from memory once
// and dLogits written once; Backward only multiplies by u when u ≠ 1. A Forward that is not followed by a
// Backward (evaluation) wastes that work: use Infer, which computes the loss alone.
// Rows are split across Parallelism.NumThreads threads; every row is computed the same way whichever thread
// takes it, and the losses are reduced in row order afterwards, so the result does not depend on the thread count.
// All ignored (D = 0): L = 0 and a zero gradient, where PyTorch returns NaN.
namespace NeuralPrimitives;

/// <summary>
/// Cross-entropy loss of logits whose class axis is last (PyTorch's <c>nn.CrossEntropyLoss</c>), fused with a
/// numerically stable log-softmax. Targets are class indices (with <c>ignoreIndex</c>, class weights and label
/// smoothing, and PyTorch's weighted mean) or class probabilities of the logits' shape.
/// </summary>
/// <remarks>
/// <para>Layout: logits are <c>[N, C]</c> or <c>[..., C]</c> (e.g. a language model's <c>[B, T, C]</c>); PyTorch expects the
/// classes on axis 1 (<c>[N, C, d1, …]</c>), so <c>[B, T, C]</c> logits need <c>permute(0, 2, 1)</c> there but not here.</para>
/// <para>Deliberate difference: when no target is kept (all equal <c>ignoreIndex</c>, e.g. a batch of padding), the mean
/// is 0 and the gradient is zero; PyTorch returns NaN.</para>
/// <para>Speed: <c>Forward</c> also computes the gradient (the logits are read once); use <see cref="Infer(Tensor{T}, Tensor{int})"/>
/// for a loss without gradient. Buffer (in the state_dict, as in PyTorch): <c>weight</c>, when given.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class CrossEntropyLoss<T> : Loss<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Problems with fewer logits than this stay on the calling thread.</summary>
    private const long ParallelMinElements = 1 << 16;

    private readonly Buffer<T>? _weight;
    private readonly TensorBuffer<T> _dInput = new();
    private readonly RowJob _job = new();
    private readonly T _smoothing;
    private Tensor<T>? _dLogits;

    /// <summary>Creates the loss.</summary>
    /// <param name="weight">Class weights [C], or null for 1.</param>
    /// <param name="ignoreIndex">A class-index target value that contributes nothing (default −100, as PyTorch).</param>
    /// <param name="reduction">Mean (default; weighted), Sum or None.</param>
    /// <param name="labelSmoothing">ε ∈ [0, 1]: the target becomes (1 − ε)·target + ε·uniform (default 0).</param>
    /// <exception cref="ArgumentException"><paramref name="weight"/> is not one-dimensional.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is outside [0, 1].</exception>
    public CrossEntropyLoss(Tensor<T>? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0)
        : base(reduction)
    {
        Guard.InRange(labelSmoothing, 0, 1);
        _weight = RegisterWeight("weight", weight, nameof(weight), perClass: true);
        IgnoreIndex = ignoreIndex;
        LabelSmoothing = labelSmoothing;
        _smoothing = T.CreateTruncating(labelSmoothing);
    }

    /// <summary>The class weights (a view of the <c>weight</c> buffer), or null.</summary>
    public Tensor<T>? Weight => _weight?.Value;

    /// <summary>The class-index target value that is ignored.</summary>
    public int IgnoreIndex { get; }

    /// <summary>The label smoothing ε.</summary>
    public double LabelSmoothing { get; }

    /// <summary>Computes the loss of logits against class indices, and its gradient for <see cref="Loss{T}.Backward()"/>.</summary>
    /// <param name="input">Logits [..., C] (class axis last).</param>
    /// <param name="target">Class indices, the input's shape without its last axis; <see cref="IgnoreIndex"/> marks rows to skip.</param>
    /// <returns>The reduced loss; for <see cref="Reduction.None"/>, the sum of <see cref="Loss{T}.Unreduced"/>.</returns>
    /// <exception cref="ArgumentException">Shapes disagree, or the weight length is not C.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is neither a class in [0, C) nor <see cref="IgnoreIndex"/> (the message gives its position and value).</exception>
    public T Forward(Tensor<T> input, Tensor<int> target)
    {
        using var pass = BeginForward();
        var (rows, classes, denominator) = ClassTargets.Check(input, target, _weight, IgnoreIndex);
        Train(input, target, null, target.Lengths, rows, classes, ReductionScale(denominator));
        return Complete(pass, denominator);
    }

    /// <summary>Computes the loss of logits against class probabilities (soft targets), and its gradient for <see cref="Loss{T}.Backward()"/>.</summary>
    /// <param name="input">Logits [..., C] (class axis last).</param>
    /// <param name="target">Class probabilities, the input's shape (each row usually sums to 1; not checked, as in PyTorch).</param>
    /// <returns>The reduced loss (Mean divides by the row count); for <see cref="Reduction.None"/>, the sum of <see cref="Loss{T}.Unreduced"/>.</returns>
    /// <exception cref="ArgumentException">Shapes disagree, or the weight length is not C.</exception>
    public T Forward(Tensor<T> input, Tensor<T> target)
    {
        using var pass = BeginForward();
        var (rows, classes) = ClassTargets.CheckScores(input, _weight);
        Guard.SameShape(input, target, nameof(target));
        T denominator = T.CreateTruncating(rows);
        Train(input, null, target, input.Lengths[..^1], rows, classes, ReductionScale(denominator));
        return Complete(pass, denominator);
    }

    /// <summary>The loss of logits against class indices, without gradient or cache (thread-safe; allocates its workspace).</summary>
    /// <param name="input">Logits [..., C].</param>
    /// <param name="target">Class indices, the input's shape without its last axis.</param>
    /// <returns>The reduced loss (for <see cref="Reduction.None"/>, the sum of the per-row losses).</returns>
    /// <exception cref="ArgumentException">Shapes disagree, or the weight length is not C.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is neither a class in [0, C) nor <see cref="IgnoreIndex"/>.</exception>
    public T Infer(Tensor<T> input, Tensor<int> target)
    {
        var (rows, classes, denominator) = ClassTargets.Check(input, target, _weight, IgnoreIndex);
        var losses = Tensor.Create(new T[rows], [rows]);
        Run(new RowJob(), input, target, null, losses, null, rows, classes, T.Zero);
        return Reduce(losses.AsReadOnlySpan(), denominator);
    }

    /// <summary>The loss of logits against class probabilities, without gradient or cache (thread-safe; allocates its workspace).</summary>
    /// <param name="input">Logits [..., C].</param>
    /// <param name="target">Class probabilities, the input's shape.</param>
    /// <returns>The reduced loss (for <see cref="Reduction.None"/>, the sum of the per-row losses).</returns>
    /// <exception cref="ArgumentException">Shapes disagree, or the weight length is not C.</exception>
    public T Infer(Tensor<T> input, Tensor<T> target)
    {
        var (rows, classes) = ClassTargets.CheckScores(input, _weight);
        Guard.SameShape(input, target, nameof(target));
        var losses = Tensor.Create(new T[rows], [rows]);
        Run(new RowJob(), input, null, target, losses, null, rows, classes, T.Zero);
        return Reduce(losses.AsReadOnlySpan(), T.CreateTruncating(rows));
    }

    private void Train(Tensor<T> input, Tensor<int>? indices, Tensor<T>? probabilities, ReadOnlySpan<nint> lossShape, int rows, int classes, T scale)
    {
        UnreducedBuffer(lossShape);
        _dLogits = _dInput.Get(input.Lengths);
        Run(_job, input, indices, probabilities, Unreduced, _dLogits, rows, classes, scale);
    }

    /// <inheritdoc />
    protected override Tensor<T> Gradient(T dLoss, ReadOnlySpan<T> dUnreduced)
    {
        // Forward left dx = s·(Q·softmax − q) for u = 1; apply the upstream gradient u.
        var dInput = _dLogits!;
        var dx = dInput.AsSpan();
        if (dUnreduced.IsEmpty)
        {
            if (dLoss != T.One) TensorPrimitives.Multiply(dx, dLoss, dx);
            return dInput;
        }
        int classes = dx.Length / dUnreduced.Length;
        for (int n = 0; n < dUnreduced.Length; n++)
        {
            var row = dx.Slice(n * classes, classes);
            TensorPrimitives.Multiply(row, dUnreduced[n], row);
        }
        return dInput;
    }

    /// <summary>
    /// One row: returns l = Q·log S − Σ_c q_c·z_c for the target q = dense + hot·[c = y] (y &lt; 0: no one-hot part),
    /// and with <paramref name="gradient"/> leaves s·(Q·e^z/S − q) in <paramref name="work"/> (otherwise work is scratch).
    /// </summary>
    private static T Row(ReadOnlySpan<T> x, Span<T> work, ReadOnlySpan<T> dense, T denseSum, int y, T hot, T scale, bool gradient)
    {
        T max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, work);                                         // z = x − m ≤ 0
        T qz = (y >= 0 ? hot * work[y] : T.Zero) + (dense.IsEmpty ? T.Zero : TensorPrimitives.Dot(dense, work)); // Σ q·z
        VectorMath.Exp<T>(work, work);                                                    // e^z ∈ [0, 1]
        T sum = TensorPrimitives.Sum<T>(work);                                            // S ≥ 1
        T q = hot + denseSum;                                                             // Q
        if (gradient)
        {
            TensorPrimitives.Multiply(work, scale * q / sum, work);                       // s·Q·softmax
            if (!dense.IsEmpty) TensorPrimitives.MultiplyAdd(dense, -scale, work, work);  // − s·q, dense part
            if (y >= 0) work[y] -= scale * hot;                                           // − s·q, one-hot part
        }
        return q * T.Log(sum) - qz;
    }

    private T ClassWeight(int c) => _weight is null ? T.One : _weight.Data[c];

    /// <summary>Runs every row of one pass: on <see cref="Parallelism.NumThreads"/> threads when the problem is large and the workers are free.</summary>
    private void Run(RowJob job, Tensor<T> logits, Tensor<int>? indices, Tensor<T>? probabilities, Tensor<T> losses, Tensor<T>? dLogits,
        int rows, int classes, T scale)
    {
        int threads = Math.Min(Parallelism.NumThreads, rows);
        bool parallel = threads > 1 && (long)rows * classes >= ParallelMinElements;
        int parts = parallel ? Math.Min(rows, 4 * threads) : 1;
        job.Set(this, logits, indices, probabilities, losses, dLogits, rows, classes, scale, parts);
        try
        {
            if (parallel && Parallelism.TryEnterParallel())
            {
                try { Parallelism.RunParallel(job, threads, parts); }
                finally { Parallelism.ExitParallel(); }
            }
            else
                for (int part = 0; part < parts; part++) job.Execute(part);
        }
        finally { job.Release(); }
    }

    /// <summary>One pass over the rows, split into parts of consecutive rows; each part has its own scratch rows.</summary>
    private sealed class RowJob : ParallelJob
    {
        private readonly TensorBuffer<T> _scratch = new(), _uniform = new();
        private CrossEntropyLoss<T>? _loss;
        private Tensor<T>? _logits, _probabilities, _losses, _dLogits;
        private Tensor<int>? _indices;
        private int _rows, _classes, _parts, _uniformLength;
        private T _scale, _uniformSum;

        public void Set(CrossEntropyLoss<T> loss, Tensor<T> logits, Tensor<int>? indices, Tensor<T>? probabilities, Tensor<T> losses,
            Tensor<T>? dLogits, int rows, int classes, T scale, int parts)
        {
            (_loss, _logits, _indices, _probabilities, _losses, _dLogits) = (loss, logits, indices, probabilities, losses, dLogits);
            (_rows, _classes, _scale, _parts) = (rows, classes, scale, parts);
            _scratch.GetSpan(parts * 2 * classes);
            // The smoothing part of an index target's q: u_c = (ε/C)·w_c, the same for every row.
            _uniformLength = loss._smoothing == T.Zero || indices is null ? 0 : classes;
            var u = _uniform.GetSpan(_uniformLength);
            if (!u.IsEmpty)
            {
                u.Fill(loss._smoothing / T.CreateTruncating(classes));
                if (loss._weight is not null) TensorPrimitives.Multiply(u, loss._weight.Data, u);
            }
            _uniformSum = TensorPrimitives.Sum<T>(u);
        }

        /// <summary>Drops the references to the caller's tensors.</summary>
        public void Release() => (_logits, _indices, _probabilities, _losses, _dLogits) = (null, null, null, null, null);

        public override void Execute(int part)
        {
            var loss = _loss!;
            int c = _classes, lo = (int)((long)_rows * part / _parts), hi = (int)((long)_rows * (part + 1) / _parts);
            var x = _logits!.AsReadOnlySpan();
            var losses = _losses!.AsSpan();
            var dx = _dLogits is null ? Span<T>.Empty : _dLogits.AsSpan();
            var work = _scratch.Array.AsSpan(part * 2 * c, c);
            var q = _scratch.Array.AsSpan(part * 2 * c + c, c);
            ReadOnlySpan<T> uniform = _uniform.Array.AsSpan(0, _uniformLength);
            for (int n = lo; n < hi; n++)
            {
                var xr = x.Slice(n * c, c);
                var wr = dx.IsEmpty ? work : dx.Slice(n * c, c);
                if (_indices is not null)
                {
                    int y = _indices.AsReadOnlySpan()[n];
                    if (y == loss.IgnoreIndex)
                    {
                        losses[n] = T.Zero;
                        if (!dx.IsEmpty) wr.Clear();
                        continue;
                    }
                    T hot = (T.One - loss._smoothing) * loss.ClassWeight(y);              // (1 − ε)·w_y
                    losses[n] = Row(xr, wr, uniform, _uniformSum, y, hot, _scale, !dx.IsEmpty);
                }
                else
                {
                    // q = w ⊙ ((1 − ε)·t + ε/C)
                    TensorPrimitives.Multiply(_probabilities!.AsReadOnlySpan().Slice(n * c, c), T.One - loss._smoothing, q);
                    TensorPrimitives.Add(q, loss._smoothing / T.CreateTruncating(c), q);
                    if (loss._weight is not null) TensorPrimitives.Multiply(q, loss._weight.Data, q);
                    losses[n] = Row(xr, wr, q, TensorPrimitives.Sum<T>(q), -1, T.Zero, _scale, !dx.IsEmpty);
                }
            }
        }
    }
}
