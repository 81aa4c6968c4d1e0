namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Embedding shapes of issue 4: V = 50,000, D = 256, indices [32, 128], float. Peer: benchmarks/peers/cases_embedding.py.
/// <list type="bullet">
/// <item><c>emb_fwd</c>: training forward (lookup into a reused output).</item>
/// <item><c>emb_fwdbwd</c>: forward, backward of out.sum() (dOut = ones), zero grad; ours with the row-sparse gradient
/// (the design), PyTorch with its default dense gradient (set to None between steps).</item>
/// <item><c>emb_fwdbwd_dense</c>: the same with a dense [V, D] gradient on both sides (ours zeroes it in place).</item>
/// <item><c>emb_fwdbwd_sparse</c>: the same with a sparse gradient on both sides (PyTorch <c>sparse=True</c>).</item>
/// <item><c>embbag_fwd</c>, <c>embbag_fwdbwd</c>: EmbeddingBag, mode sum, the same 4,096 indices as 32 bags of 128
/// (1-D input + offsets); fwdbwd as emb_fwdbwd (ours row-sparse, PyTorch dense set to None).</item>
/// </list>
/// </summary>
public sealed class EmbeddingSuite : ICompareSuite
{
    private const int V = 50_000, D = 256, B = 32, T = 128;

    private static Tensor<int> Indices()
    {
        var rng = new Rng(42);
        var idx = new int[B * T];
        for (int i = 0; i < idx.Length; i++) idx[i] = rng.NextInt(V);
        return Tensor.Create(idx, [B, T]);
    }

    private static (EmbeddingBag<float> Bag, Tensor<int> Input, Tensor<int> Offsets, Tensor<float> DOut) Bag()
    {
        var bag = new EmbeddingBag<float>(V, D, EmbeddingBagMode.Sum, sparse: true, rng: new Rng(1));
        var input = Tensor.Create(Indices().ToArray(), [B * T]);
        var offsets = new int[B];
        for (int b = 0; b < B; b++) offsets[b] = b * T;
        return (bag, input, Tensor.Create(offsets, [B]), CompareData.Ones(B, D));
    }

    private static Action FwdBwd(bool sparse)
    {
        var emb = new Embedding<float>(V, D, sparse: sparse, rng: new Rng(1));
        var idx = Indices();
        var dOut = CompareData.Ones(B, T, D);
        return () =>
        {
            emb.Forward(idx);
            emb.Backward(dOut);
            emb.Weight.ZeroGrad();
        };
    }

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("emb_fwd", () =>
        {
            var emb = new Embedding<float>(V, D, rng: new Rng(1));
            var idx = Indices();
            return () => emb.Forward(idx);
        });
        yield return new("emb_fwdbwd", () => FwdBwd(sparse: true));
        yield return new("emb_fwdbwd_dense", () => FwdBwd(sparse: false));
        yield return new("emb_fwdbwd_sparse", () => FwdBwd(sparse: true));
        yield return new("embbag_fwd", () =>
        {
            var (bag, input, offsets, _) = Bag();
            return () => bag.Forward(input, offsets);
        });
        yield return new("embbag_fwdbwd", () =>
        {
            var (bag, input, offsets, dOut) = Bag();
            return () =>
            {
                bag.Forward(input, offsets);
                bag.Backward(dOut);
                bag.Weight.ZeroGrad();
            };
        });
    }
}
