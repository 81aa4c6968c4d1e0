// The part Embedding and EmbeddingBag share (Embedding.cs, EmbeddingBag.cs, whose headers hold the equations): the
// table W [V, D] as the parameter "weight" with its options as PyTorch names them (padding_idx, max_norm, norm_type,
// sparse), PyTorch's initialisation, and the in-place max-norm renormalisation of the training forward.
//
// Init (PyTorch's reset_parameters):  W ~ N(0, 1), then the padding row zeroed.
// maxNorm (embedding_renorm_, EmbeddingOps.cs):  every looked-up row with ‖W_r‖_p > maxNorm becomes W_r·maxNorm/(‖W_r‖_p + 1e-7).
namespace NeuralPrimitives;

/// <summary>
/// Base of <see cref="Embedding{T}"/> and <see cref="EmbeddingBag{T}"/>: a table of V vectors of size D, the parameter
/// <c>weight</c> [V, D], with its padding row, max-norm and sparse-gradient options.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class EmbeddingTable<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Checks the options and creates the (uninitialised) table; see <see cref="ResetParameters"/>.</summary>
    private protected EmbeddingTable(int numEmbeddings, int embeddingDim, int? paddingIdx, double? maxNorm, double normType, bool sparse)
    {
        EmbeddingOps.ValidateTableSize(numEmbeddings, embeddingDim);
        EmbeddingOps.ValidateNorm(maxNorm, normType);
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        PaddingIdx = EmbeddingOps.NormalisePaddingIdx(paddingIdx, numEmbeddings);
        MaxNorm = maxNorm;
        NormType = normType;
        Sparse = sparse;
        Weight = new Parameter<T>("weight", numEmbeddings, embeddingDim);
        if (sparse) Weight.UseSparseGrad();
    }

    /// <summary>PyTorch's initialisation: W ~ N(0, 1), then the padding row zeroed.</summary>
    private protected void ResetParameters(Rng? rng)
    {
        Init.Normal(Weight, rng ?? Rng.Default);
        if (PaddingIdx is int p) Weight.Data.AsSpan(p * EmbeddingDim, EmbeddingDim).Clear();
    }

    /// <summary>Number of rows V.</summary>
    public int NumEmbeddings { get; }

    /// <summary>Vector size D.</summary>
    public int EmbeddingDim { get; }

    /// <summary>The padding row (normalised to [0, V)), or null: it gets no gradient (and an embedding bag leaves it out of every bag).</summary>
    public int? PaddingIdx { get; }

    /// <summary>The max-norm bound, or null.</summary>
    public double? MaxNorm { get; }

    /// <summary>The p of the p-norm used with <see cref="MaxNorm"/>.</summary>
    public double NormType { get; }

    /// <summary>Whether the weight gradient is row-sparse (<see cref="Parameter{T}.SparseGrad"/>).</summary>
    public bool Sparse { get; }

    /// <summary>The table [V, D].</summary>
    public Parameter<T> Weight { get; }

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters()
    {
        yield return Weight;
    }

    /// <summary>The training forward's max-norm step: renormalises, in place, the rows <paramref name="indices"/> names (nothing without <see cref="MaxNorm"/>).</summary>
    private protected void RenormLookedUpRows(ReadOnlySpan<int> indices)
    {
        if (MaxNorm is double m) EmbeddingOps.RenormRows<T>(Weight.Data, EmbeddingDim, indices, m, NormType);
    }
}
