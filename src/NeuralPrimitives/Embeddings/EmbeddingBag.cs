// EmbeddingBag: looks up a bag of indices and reduces the rows to one vector per bag, without
// materialising the [N, D] lookups (PyTorch's nn.EmbeddingBag).
//
// Shapes:   W [V, D]; input either 1-D [N] with offsets [B] (bag b = input[offsets[b] .. offsets[b+1]),
//           the last bag running to N; with includeLastOffset offsets is [B+1] and offsets[B] ends the
//           last bag), or 2-D [B, L] (B bags of L indices). Output y [B, D].
//           Entries equal to paddingIdx are left out of their bag (and out of the mean's count).
//           Let S_b be the positions of bag b that are not padding, n_b = |S_b|.
// Forward:  Sum:  y_b = Σ_{i∈S_b} a_i · W[idx_i]        a_i = perSampleWeights[i] (1 when absent)
//           Mean: y_b = (1/n_b) Σ_{i∈S_b} W[idx_i]
//           Max:  y_b[d] = max_{i∈S_b} W[idx_i, d]      (argmax i*_b[d] remembered; first wins ties;
//                                                        a NaN wins over every number, as torch.max;
//                                                        PyTorch 1.13's embedding_bag keeps whichever came first)
//           An empty bag (n_b = 0) gives y_b = 0.
// Backward: Sum:  dW[idx_i] += a_i · dy_b               ∂L/∂a_i = W[idx_i] · dy_b
//           Mean: dW[idx_i] += dy_b / n_b
//           Max:  dW[idx_{i*_b[d]}, d] += dy_b[d]      (the gradient is routed to the arg-max row)
//           Dense or row-sparse (sparse: true) weight gradient, as in Embedding.
// maxNorm:  as Embedding: looked-up rows are renormalised in place before the reduction.
namespace NeuralPrimitives;

/// <summary>How <see cref="EmbeddingBag{T}"/> reduces a bag (PyTorch's <c>mode</c> string).</summary>
public enum EmbeddingBagMode
{
    /// <summary>Sum of the rows (optionally weighted by per-sample weights).</summary>
    Sum,
    /// <summary>Mean of the rows (PyTorch's default).</summary>
    Mean,
    /// <summary>Element-wise maximum of the rows.</summary>
    Max,
}

/// <summary>
/// Computes sums, means or maxima of bags of embeddings (PyTorch's <c>nn.EmbeddingBag</c>). Parameter: <c>weight</c> [V, D].
/// </summary>
/// <remarks>
/// Use either a 1-D input with <c>offsets</c> or a 2-D input of equal-size bags. Not supported (yet):
/// <c>scale_grad_by_freq</c>. <see cref="Infer"/> is thread-safe and never writes the weight (with <c>maxNorm</c>
/// it reduces the renormalised rows without storing them).
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class EmbeddingBag<T> : EmbeddingTable<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dWeights = new();
    private readonly TensorBuffer<T> _weights = new();
    private nint[]? _outputShape;
    private nint[]? _inputShape;
    private int[]? _indices, _bounds, _argMax;
    private int _count, _bags;
    private bool _hasWeights;

    /// <summary>Creates the table with PyTorch's initialisation N(0, 1) (padding row zeroed).</summary>
    /// <param name="numEmbeddings">Number of rows V (≥ 1).</param>
    /// <param name="embeddingDim">Vector size D (≥ 1).</param>
    /// <param name="mode">Reduction over a bag (default <see cref="EmbeddingBagMode.Mean"/>, as PyTorch).</param>
    /// <param name="paddingIdx">Index left out of every bag (and never given a gradient); negative counts from the end.</param>
    /// <param name="maxNorm">If set, looked-up rows with a larger norm are renormalised in place (PyTorch semantics).</param>
    /// <param name="normType">p of the p-norm for <paramref name="maxNorm"/>.</param>
    /// <param name="sparse">Keep the weight gradient as touched rows only.</param>
    /// <param name="includeLastOffset">Offsets have B+1 entries, the last one ending the last bag (CSR style).</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public EmbeddingBag(int numEmbeddings, int embeddingDim, EmbeddingBagMode mode = EmbeddingBagMode.Mean, int? paddingIdx = null,
        double? maxNorm = null, double normType = 2, bool sparse = false, bool includeLastOffset = false, Rng? rng = null)
        : base(numEmbeddings, embeddingDim, paddingIdx, maxNorm, normType, sparse)
    {
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, $"mode must be Sum, Mean or Max, got {mode}.");
        Mode = mode;
        IncludeLastOffset = includeLastOffset;
        ResetParameters(rng);
    }

    /// <summary>The reduction.</summary>
    public EmbeddingBagMode Mode { get; }

    /// <summary>Whether offsets carry a final entry ending the last bag.</summary>
    public bool IncludeLastOffset { get; }

    /// <summary>
    /// Training forward: reduces each bag to one vector and remembers what <see cref="Backward"/> needs.
    /// Returns a module-owned [B, D] tensor valid until the next call.
    /// </summary>
    /// <param name="input">1-D indices [N] (with <paramref name="offsets"/>) or 2-D [B, L] (equal-size bags, no offsets).</param>
    /// <param name="offsets">Start of each bag in a 1-D input: starts at 0, non-decreasing, each ≤ N; with
    /// <see cref="IncludeLastOffset"/> one more entry, equal to N, ends the last bag.</param>
    /// <param name="perSampleWeights">Weights shaped like <paramref name="input"/>; only with <see cref="EmbeddingBagMode.Sum"/>.</param>
    public Tensor<T> Forward(Tensor<int> input, Tensor<int>? offsets = null, Tensor<T>? perSampleWeights = null)
    {
        using var pass = BeginForward();
        int bags = Validate(input, offsets, perSampleWeights, ref _bounds);
        var idx = input.AsReadOnlySpan();
        RenormLookedUpRows(idx);
        var output = _output.Get(EmbeddingOps.ShapeWithLast(ref _outputShape, [bags], EmbeddingDim));
        ReadOnlySpan<T> a = perSampleWeights is null ? default : perSampleWeights.AsReadOnlySpan();
        var argMax = Mode == EmbeddingBagMode.Max ? EmbeddingOps.IntBuffer(ref _argMax, bags * EmbeddingDim) : default;
        Reduce(idx, _bounds.AsSpan(0, bags + 1), a, perSampleWeights is not null, output.AsSpan(), argMax, renormOnTheFly: null);

        idx.CopyTo(EmbeddingOps.IntBuffer(ref _indices, idx.Length));
        _count = idx.Length;
        _bags = bags;
        _hasWeights = perSampleWeights is not null;
        _inputShape = EmbeddingOps.CachedShape(ref _inputShape, input.Lengths);
        if (_hasWeights) a.CopyTo(_weights.GetSpan(a.Length));
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward: a new [B, D] tensor; caches nothing, never writes the weight, thread-safe.</summary>
    /// <param name="input">See <see cref="Forward"/>.</param>
    /// <param name="offsets">See <see cref="Forward"/>.</param>
    /// <param name="perSampleWeights">See <see cref="Forward"/>.</param>
    public Tensor<T> Infer(Tensor<int> input, Tensor<int>? offsets = null, Tensor<T>? perSampleWeights = null)
    {
        int[]? bounds = null;
        int bags = Validate(input, offsets, perSampleWeights, ref bounds);
        var output = Tensor.Create(new T[bags * EmbeddingDim], [bags, EmbeddingDim]);
        var argMax = Mode == EmbeddingBagMode.Max ? new int[bags * EmbeddingDim] : default(Span<int>);
        ReadOnlySpan<T> a = perSampleWeights is null ? default : perSampleWeights.AsReadOnlySpan();
        Reduce(input.AsReadOnlySpan(), bounds.AsSpan(0, bags + 1), a, perSampleWeights is not null, output.AsSpan(), argMax, MaxNorm);
        return output;
    }

    // Checks the arguments and writes the bag bounds (B+1 entries: bag b is [bounds[b], bounds[b+1])). Returns B.
    private int Validate(Tensor<int> input, Tensor<int>? offsets, Tensor<T>? perSampleWeights, ref int[]? bounds)
    {
        ArgumentNullException.ThrowIfNull(input);
        int n = checked((int)input.FlattenedLength);
        int bags;
        if (input.Rank == 2)
        {
            if (offsets is not null)
                throw new ArgumentException($"offsets must be null when input is 2-D (each row is a bag), got offsets of shape {Shapes.Format(offsets.Lengths)}.", nameof(offsets));
            bags = checked((int)input.Lengths[0]);
            CheckOutputSize(bags, nameof(input));
            int len = checked((int)input.Lengths[1]);
            var b = EmbeddingOps.IntBuffer(ref bounds, bags + 1);
            for (int i = 0; i <= bags; i++) b[i] = i * len;
        }
        else if (input.Rank == 1)
        {
            if (offsets is null)
                throw new ArgumentException($"offsets is required when input is 1-D (expected a 1-D tensor of bag starts), got null.", nameof(offsets));
            if (offsets.Rank != 1)
                throw new ArgumentException($"offsets must be 1-D, got shape {Shapes.Format(offsets.Lengths)}.", nameof(offsets));
            var off = offsets.AsReadOnlySpan();
            int minLength = IncludeLastOffset ? 2 : 1;
            if (off.Length < minLength)
                throw new ArgumentException($"offsets must have at least {minLength} element(s){(IncludeLastOffset ? " with includeLastOffset" : "")}, got {off.Length}.", nameof(offsets));
            if (off[0] != 0)
                throw new ArgumentException($"offsets[0] must be 0, got {off[0]}.", nameof(offsets));
            for (int i = 0; i < off.Length; i++)
            {
                if (off[i] > n)
                    throw new ArgumentException($"offsets[{i}] = {off[i]} is past the end of input: expected ≤ {n} (the number of indices).", nameof(offsets));
                if (i > 0 && off[i] < off[i - 1])
                    throw new ArgumentException($"offsets must be non-decreasing: offsets[{i}] = {off[i]} < offsets[{i - 1}] = {off[i - 1]}.", nameof(offsets));
            }
            if (IncludeLastOffset && off[^1] != n)
                throw new ArgumentException($"offsets[{off.Length - 1}] = {off[^1]} must equal the input length {n} with includeLastOffset (it ends the last bag; the rest of the input would be dropped).", nameof(offsets));
            bags = IncludeLastOffset ? off.Length - 1 : off.Length;
            CheckOutputSize(bags, nameof(offsets));
            var b = EmbeddingOps.IntBuffer(ref bounds, bags + 1);
            off[..bags].CopyTo(b);
            b[bags] = IncludeLastOffset ? off[bags] : n;
        }
        else
        {
            throw new ArgumentException($"input must be 1-D (with offsets) or 2-D [bags, bagSize], got shape {Shapes.Format(input.Lengths)}.", nameof(input));
        }
        if (perSampleWeights is not null)
        {
            if (Mode != EmbeddingBagMode.Sum)
                throw new ArgumentException($"perSampleWeights is only supported with mode Sum (as in PyTorch), got mode {Mode}.", nameof(perSampleWeights));
            Guard.SameShape(input, perSampleWeights, nameof(perSampleWeights));
        }
        EmbeddingOps.ValidateIndices(input.AsReadOnlySpan(), NumEmbeddings, nameof(input));
        return bags;
    }

    // The [B, D] output (and Max's arg-max) must fit in one array; B comes from the argument named here.
    private void CheckOutputSize(int bags, string name) => Guard.ElementCount(bags, EmbeddingDim, name, "the number of bags", "embeddingDim");

    private void Reduce(ReadOnlySpan<int> idx, ReadOnlySpan<int> bounds, ReadOnlySpan<T> a, bool weighted, Span<T> y, Span<int> argMax, double? renormOnTheFly)
    {
        int d = EmbeddingDim, pad = PaddingIdx ?? -1;
        ReadOnlySpan<T> w = Weight.Data;
        y.Clear();
        for (int b = 0; b < bounds.Length - 1; b++)
        {
            var yb = y.Slice(b * d, d);
            int count = 0;
            if (Mode == EmbeddingBagMode.Max)
            {
                var am = argMax.Slice(b * d, d);
                am.Fill(-1);
                for (int i = bounds[b]; i < bounds[b + 1]; i++)
                {
                    int r = idx[i];
                    if (r == pad) continue;
                    var row = w.Slice(r * d, d);
                    T scale = renormOnTheFly is double m ? T.CreateTruncating(EmbeddingOps.RenormScale(row, m, NormType)) : T.One;
                    for (int j = 0; j < d; j++)
                    {
                        T v = row[j] * scale;
                        if (count == 0 || v > yb[j] || (T.IsNaN(v) && !T.IsNaN(yb[j]))) { yb[j] = v; am[j] = i; }
                    }
                    count++;
                }
                continue;
            }
            for (int i = bounds[b]; i < bounds[b + 1]; i++)
            {
                if (i + RowGather.PrefetchDistance < idx.Length) RowGather.Prefetch(w, idx[i + RowGather.PrefetchDistance], d);
                int r = idx[i];
                if (r == pad) continue;
                var row = w.Slice(r * d, d);
                T factor = weighted ? a[i] : T.One;
                if (renormOnTheFly is double m) factor *= T.CreateTruncating(EmbeddingOps.RenormScale(row, m, NormType));
                if (factor == T.One) TensorPrimitives.Add(yb, row, yb);
                else TensorPrimitives.MultiplyAdd(row, factor, yb, yb);
                count++;
            }
            if (Mode == EmbeddingBagMode.Mean && count > 1) TensorPrimitives.Divide(yb, T.CreateTruncating(count), yb);
        }
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: accumulates the weight gradient (dense or row-sparse) and, when
    /// per-sample weights were given, returns ∂L/∂perSampleWeights (module-owned, shaped like the input); otherwise null.
    /// </summary>
    /// <param name="dOutput">∂L/∂output [B, D].</param>
    public Tensor<T>? Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.Shape(dOutput, _outputShape!, nameof(dOutput));
        ReadOnlySpan<int> idx = _indices.AsSpan(0, _count);
        ReadOnlySpan<int> bounds = _bounds.AsSpan(0, _bags + 1);
        ReadOnlySpan<T> dy = dOutput.AsReadOnlySpan();
        ReadOnlySpan<T> w = Weight.Data;
        int d = EmbeddingDim, pad = PaddingIdx ?? -1;
        Tensor<T>? dWeights = null;
        Span<T> da = default;
        ReadOnlySpan<T> a = default;
        if (_hasWeights)
        {
            dWeights = _dWeights.Get(_inputShape!, clear: true);
            da = dWeights.AsSpan();
            a = _weights.Array.AsSpan(0, _count);
        }
        bool grad = Weight.RequiresGrad;
        for (int b = 0; b < _bags; b++)
        {
            var dyb = dy.Slice(b * d, d);
            if (Mode == EmbeddingBagMode.Max)
            {
                if (!grad) continue;
                var am = _argMax.AsSpan(b * d, d);
                for (int j = 0; j < d; j++)
                    if (am[j] >= 0) EmbeddingOps.GradRow(Weight, idx[am[j]], d)[j] += dyb[j];
                continue;
            }
            int count = 0;
            if (Mode == EmbeddingBagMode.Mean)
                for (int i = bounds[b]; i < bounds[b + 1]; i++) if (idx[i] != pad) count++;
            T meanScale = count > 0 ? T.One / T.CreateTruncating(count) : T.Zero;
            for (int i = bounds[b]; i < bounds[b + 1]; i++)
            {
                int r = idx[i];
                if (r == pad) continue;
                if (_hasWeights) da[i] = TensorPrimitives.Dot(w.Slice(r * d, d), dyb);
                if (!grad) continue;
                var g = EmbeddingOps.GradRow(Weight, r, d);
                T factor = _hasWeights ? a[i] : Mode == EmbeddingBagMode.Mean ? meanScale : T.One;
                if (factor == T.One) TensorPrimitives.Add(g, dyb, g);
                else TensorPrimitives.MultiplyAdd(dyb, factor, g, g);
            }
        }
        if (dWeights is null) pass.Complete(); else pass.Complete(dWeights.AsReadOnlySpan(), "dPerSampleWeights");
        return dWeights;
    }
}
