// Embedding: a lookup table of V vectors of size D (PyTorch's nn.Embedding).
//
// Shapes:   indices [...] (int, any rank, each in [0, V))   W [V, D]   y [..., D]
// Forward:  y[i, :] = W[idx_i, :]                            (a row copy per index)
//   Teaching point: the lookup IS a matrix product. With e_i the one-hot row vector of idx_i
//   (1 at column idx_i, 0 elsewhere, length V), y_i = e_i · W, so for the N flattened indices
//   Y = E·W with E the [N, V] one-hot matrix. Nobody builds E: multiplying by a one-hot row just
//   selects a row, so the O(N·V·D) product collapses to an O(N·D) copy.
// Backward: dW = Eᵀ·dY, i.e. row r of dW is the sum of dY_i over every position i with idx_i = r:
//           dW[idx_i, :] += dY[i, :]                          (a scatter-add; duplicates accumulate)
//   Only rows that occurred are touched. With sparse: true the gradient is kept as those rows
//   only (RowSparseGradient, PyTorch's sparse=True), so backward and ZeroGrad cost O(N·D), not O(V·D).
//   paddingIdx p:        dW[p] receives nothing (its output rows are still W[p], zero by default).
//   scaleGradByFreq:     dW[r] += dY_i / count_r, count_r = occurrences of r in this mini-batch.
//   The indices are not differentiable: Backward returns nothing.
// maxNorm:  before the lookup, every looked-up row with ‖W_r‖_p > maxNorm is rescaled IN PLACE
//           to W_r·maxNorm/(‖W_r‖_p + 1e-7) (PyTorch's embedding_renorm_, no gradient through it).
// Init:     W ~ N(0, 1), padding row zeroed (PyTorch's reset_parameters).
namespace NeuralPrimitives;

/// <summary>
/// A lookup table mapping integer indices to vectors (PyTorch's <c>nn.Embedding</c>). Parameter: <c>weight</c> [V, D].
/// </summary>
/// <remarks>
/// Indices are <c>int</c> (a table larger than 2³¹ rows is out of scope); a <c>Tensor&lt;int&gt;</c> of any shape
/// [...] gives an output [..., D]. <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time;
/// <see cref="Infer"/> may run on many threads at once (with <c>maxNorm</c> it returns the renormalised rows
/// but does not write the weight, unlike PyTorch's eval-mode forward which renormalises in place).
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Embedding<T> : EmbeddingTable<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _output = new();
    private nint[]? _outputShape;
    private int[]? _indices;
    private int _count;
    private int[]? _frequency;

    /// <summary>Creates the table with PyTorch's initialisation: N(0, 1), padding row zeroed.</summary>
    /// <param name="numEmbeddings">Number of rows V (≥ 1).</param>
    /// <param name="embeddingDim">Size D of each vector (≥ 1).</param>
    /// <param name="paddingIdx">Row that gets no gradient (and starts at zero); negative counts from the end as in PyTorch.</param>
    /// <param name="maxNorm">If set, looked-up rows with a larger <paramref name="normType"/>-norm are renormalised in place.</param>
    /// <param name="normType">The p of the p-norm used by <paramref name="maxNorm"/> (default 2; <see cref="double.PositiveInfinity"/> allowed).</param>
    /// <param name="scaleGradByFreq">Scale each row's gradient by the inverse of its frequency in the mini-batch.</param>
    /// <param name="sparse">Keep the weight gradient as the set of touched rows (<see cref="Parameter{T}.SparseGrad"/>) instead of a dense [V, D] array.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null, double? maxNorm = null, double normType = 2,
        bool scaleGradByFreq = false, bool sparse = false, Rng? rng = null)
        : this(numEmbeddings, embeddingDim, paddingIdx, maxNorm, normType, scaleGradByFreq, sparse) => ResetParameters(rng);

    private Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx, double? maxNorm, double normType, bool scaleGradByFreq, bool sparse)
        : base(numEmbeddings, embeddingDim, paddingIdx, maxNorm, normType, sparse) => ScaleGradByFreq = scaleGradByFreq;

    /// <summary>
    /// Creates an embedding whose weight is a copy of <paramref name="embeddings"/> [V, D] (PyTorch's
    /// <c>nn.Embedding.from_pretrained</c>; like it, the padding row is left as given, not zeroed).
    /// </summary>
    /// <param name="embeddings">The [V, D] table.</param>
    /// <param name="freeze">When true (default) the weight does not require a gradient.</param>
    /// <param name="paddingIdx">Row that gets no gradient.</param>
    /// <param name="maxNorm">See the constructor.</param>
    /// <param name="normType">See the constructor.</param>
    /// <param name="scaleGradByFreq">See the constructor.</param>
    /// <param name="sparse">See the constructor.</param>
    public static Embedding<T> FromPretrained(Tensor<T> embeddings, bool freeze = true, int? paddingIdx = null, double? maxNorm = null,
        double normType = 2, bool scaleGradByFreq = false, bool sparse = false)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.Rank != 2)
            throw new ArgumentException($"embeddings must be 2-D [numEmbeddings, embeddingDim], got shape {Shapes.Format(embeddings.Lengths)}.", nameof(embeddings));
        var e = new Embedding<T>(checked((int)embeddings.Lengths[0]), checked((int)embeddings.Lengths[1]), paddingIdx, maxNorm, normType, scaleGradByFreq, sparse);
        embeddings.FlattenTo(e.Weight.Data);
        e.Weight.RequiresGrad = !freeze;
        return e;
    }

    /// <summary>Whether gradients are scaled by inverse mini-batch frequency.</summary>
    public bool ScaleGradByFreq { get; }

    /// <summary>
    /// Training forward: looks up the rows (renormalising them in place first when <see cref="EmbeddingTable{T}.MaxNorm"/> is set)
    /// and remembers the indices for <see cref="Backward"/>. Returns a module-owned [..., D] tensor valid until the next call.
    /// </summary>
    /// <param name="indices">Indices of any shape, each in [0, V).</param>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside [0, V); the message names it and its flat position.</exception>
    public Tensor<T> Forward(Tensor<int> indices)
    {
        using var pass = BeginForward();
        var idx = CheckIndices(indices);
        RenormLookedUpRows(idx);
        var output = _output.Get(EmbeddingOps.ShapeWithLast(ref _outputShape, indices.Lengths, EmbeddingDim));
        RowGather.Run<T>(Weight.Data, idx, EmbeddingDim, output.AsSpan());
        idx.CopyTo(EmbeddingOps.IntBuffer(ref _indices, idx.Length));
        _count = idx.Length;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward: a new [..., D] tensor; caches nothing, never writes the weight, thread-safe.</summary>
    /// <param name="indices">Indices of any shape, each in [0, V).</param>
    public Tensor<T> Infer(Tensor<int> indices)
    {
        var idx = CheckIndices(indices);
        nint[]? shape = null;
        var output = Tensor.Create(new T[idx.Length * EmbeddingDim], EmbeddingOps.ShapeWithLast(ref shape, indices.Lengths, EmbeddingDim));
        int d = EmbeddingDim;
        ReadOnlySpan<T> w = Weight.Data;
        var y = output.AsSpan();
        for (int i = 0; i < idx.Length; i++) EmbeddingOps.CopyRow(w, d, idx[i], y.Slice(i * d, d), MaxNorm, NormType);
        return output;
    }

    // The indices as a span, each checked to lie in [0, V), and the [..., D] output checked to fit in one array.
    private ReadOnlySpan<int> CheckIndices(Tensor<int> indices)
    {
        var idx = indices.AsReadOnlySpan();
        Guard.ElementCount(idx.Length, EmbeddingDim, nameof(indices), "the number of indices", "embeddingDim");
        EmbeddingOps.ValidateIndices(idx, NumEmbeddings, nameof(indices));
        return idx;
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: scatter-adds <paramref name="dOutput"/> [..., D] into the rows of the
    /// weight gradient that occurred (dense <see cref="Parameter{T}.Grad"/> or row-sparse <see cref="Parameter{T}.SparseGrad"/>).
    /// Indices are not differentiable, so nothing is returned. Does nothing when the weight is frozen.
    /// </summary>
    /// <param name="dOutput">∂L/∂output, shaped like the last output.</param>
    public void Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.Shape(dOutput, _outputShape!, nameof(dOutput));
        ReadOnlySpan<T> dy = dOutput.AsReadOnlySpan();
        if (Weight.RequiresGrad) ScatterAdd(_indices.AsSpan(0, _count), dy);
        pass.Complete();
    }

    // dW[idx_i] += dY_i (· 1/count_r with scaleGradByFreq), skipping the padding row.
    private void ScatterAdd(ReadOnlySpan<int> idx, ReadOnlySpan<T> dy)
    {
        int d = EmbeddingDim, pad = PaddingIdx ?? -1;
        var freq = ScaleGradByFreq ? _frequency ??= new int[NumEmbeddings] : null;
        if (freq is not null) foreach (int r in idx) freq[r]++;
        for (int i = 0; i < idx.Length; i++)
        {
            int r = idx[i];
            if (r == pad) continue;
            var g = EmbeddingOps.GradRow(Weight, r, d);
            if (freq is null) TensorPrimitives.Add(g, dy.Slice(i * d, d), g);
            else TensorPrimitives.MultiplyAdd(dy.Slice(i * d, d), T.One / T.CreateTruncating(freq[r]), g, g);
        }
        if (freq is not null) foreach (int r in idx) freq[r] = 0; // counts are per mini-batch: reset for the next Backward
    }
}
