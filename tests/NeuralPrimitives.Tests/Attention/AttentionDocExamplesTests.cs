namespace NeuralPrimitives.Tests.Attention;

// The code of docs/attention.md, as written there (with its free variables defined), so that the chapter keeps compiling.
public class AttentionDocExamplesTests
{
    [Fact]
    public void ScaledDotProductAttentionSnippetRuns()
    {
        int batch = 2, heads = 3, lq = 5, lk = 7, dk = 4;
        var rng = new Rng(1);
        var qData = TestData.NormalF(rng, batch * heads * lq * dk);
        var k = TestData.Tensor<float>(rng, batch, heads, lk, dk);
        var v = TestData.Tensor<float>(rng, batch, heads, lk, dk);
        var keep = Tensor.Create(Enumerable.Range(0, lq * lk).Select(i => i % 3 != 1).ToArray(), [lq, lk]);
        var dOutput = TestData.Tensor<float>(rng, batch, heads, lq, dk);

        var q = Tensor.Create(qData, [batch, heads, lq, dk]);   // k, v likewise ([.., lk, dk], [.., lk, dv])
        var result = ScaledDotProductAttention.Compute(q, k, v, options: new AttentionOptions { IsCausal = true });
        Tensor<float> o = result.Output;                          // [batch, heads, lq, dv]

        var sdpa = new ScaledDotProductAttention<float>();      // for training: Forward keeps what Backward needs
        var fwd = sdpa.Forward(q, k, v, AttentionMask<float>.Keep(keep), new AttentionOptions { NeedWeights = true });
        var grads = sdpa.Backward(dOutput);                       // grads.DQuery, grads.DKey, grads.DValue

        Assert.Equal([batch, heads, lq, dk], o.Shape());
        Assert.Equal([batch, heads, lq, lk], fwd.Weights!.Shape());
        Assert.Equal(q.Shape(), grads.DQuery.Shape());
    }

    [Fact]
    public void KvCacheSnippetRuns()
    {
        var rng = new Rng(2);
        var prompt = TestData.Tensor<float>(rng, 1, 6, 512);
        var oneToken = TestData.Tensor<float>(rng, 1, 1, 512);

        var attn = new GroupedQueryAttention<float>(512, 8, 2, rotary: new RotaryEmbedding<float>(64));
        var cache = attn.CreateCache(batch: 1, capacity: 2048);
        var y = attn.Infer(prompt, cache);          // [1, Lprompt, 512]; cache.Length = Lprompt
        var next = attn.Infer(oneToken, cache);     // [1, 1, 512]: RoPE at position cache.Length, attends to all cached keys

        Assert.Equal([1, 6, 512], y.Shape());
        Assert.Equal([1, 1, 512], next.Shape());
        Assert.Equal(7, cache.Length);
    }
}
