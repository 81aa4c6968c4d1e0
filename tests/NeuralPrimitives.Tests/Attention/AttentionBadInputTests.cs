using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Attention;

// Every bad argument gives an ArgumentException naming the public argument, with the expected and the actual values.
public class AttentionBadInputTests
{
    private static Tensor<float> T(params int[] shape) => TestData.Tensor<float>(new Rng(1), shape);

    [Fact]
    public void SdpaRejectsMismatchedShapes()
    {
        var q = T(2, 4, 5, 8);
        // dk differs between q and k
        Throws(() => ScaledDotProductAttention.Compute(q, T(2, 4, 6, 7), T(2, 4, 6, 3)), "key", "dk = 8", "[2, 4, 6, 7]");
        // k and v with different lengths
        Throws(() => ScaledDotProductAttention.Compute(q, T(2, 4, 6, 8), T(2, 4, 5, 3)), "value", "Lk = 6", "[2, 4, 5, 3]");
        // q heads not a multiple of the kv heads
        var gqa = new AttentionOptions { EnableGqa = true };
        Throws(() => ScaledDotProductAttention.Compute(q, T(2, 3, 6, 8), T(2, 3, 6, 3), options: gqa), "key", "4 heads", "multiple", "3 heads");
        // fewer kv heads without EnableGqa
        Throws(() => ScaledDotProductAttention.Compute(q, T(2, 2, 6, 8), T(2, 2, 6, 3)), "key", "EnableGqa", "[2, 2, 6, 8]");
        // other leading dimensions
        Throws(() => ScaledDotProductAttention.Compute(q, T(3, 4, 6, 8), T(3, 4, 6, 3)), "key", "[2, 4]", "[3, 4, 6, 8]");
        Throws(() => ScaledDotProductAttention.Compute(q, T(2, 4, 6, 8), T(2, 2, 6, 3), options: gqa), "value", "[2, 4, 6]", "[2, 2, 6, 3]");
        Throws(() => ScaledDotProductAttention.Compute(q, T(4, 6, 8), T(4, 6, 3)), "key", "rank of query (4)");
        Throws(() => ScaledDotProductAttention.Compute(T(8), T(6, 8), T(6, 3)), "query", "rank ≥ 2", "[8]");
    }

    [Fact]
    public void SdpaRejectsMasksThatDoNotBroadcast()
    {
        var (q, k, v) = (T(2, 4, 5, 8), T(2, 4, 6, 8), T(2, 4, 6, 3));
        Throws(() => ScaledDotProductAttention.Compute(q, k, v, AttentionMask<float>.Keep(Tensor.Create(new bool[25], [5, 5]))), "attnMask", "[5, 5]", "[2, 4, 5, 6]");
        Throws(() => ScaledDotProductAttention.Compute(q, k, v, T(3, 1, 5, 6)), "attnMask", "[3, 1, 5, 6]");
        Throws(() => ScaledDotProductAttention.Compute(q, k, v, T(1, 2, 4, 5, 6)), "attnMask", "[1, 2, 4, 5, 6]");
        Throws(() => ScaledDotProductAttention.Compute(q, k, v, default(AttentionMask<float>)), "attnMask", "no tensor");
        // Broadcastable shapes are accepted.
        ScaledDotProductAttention.Compute(q, k, v, T(6));
        ScaledDotProductAttention.Compute(q, k, v, T(2, 1, 1, 6));
        ScaledDotProductAttention.Compute(q, k, v, AttentionMask<float>.Ignore(Tensor.Create(new bool[20 * 6], [4, 5, 6])));
    }

    [Fact]
    public void OptionsRejectBadValues()
    {
        Throws(() => _ = new AttentionOptions { DropoutP = 1.5 }, "DropoutP", "[0, 1]", "1.5");
        Throws(() => _ = new AttentionOptions { Scale = double.NaN }, "Scale", "finite", "NaN");
        Throws(() => _ = new AttentionWindow(-1, 2), "left", "≥ 0", "-1");
        Throws(() => ScaledDotProductAttention.Compute(T(3, 4), T(3, 4), T(3, 4),
            options: new AttentionOptions { NeedWeights = true, Algorithm = AttentionAlgorithm.MemoryEfficient }), "options", "NeedWeights");
    }

    [Fact]
    public void SdpaBackwardChecksItsArguments()
    {
        var sdpa = new ScaledDotProductAttention<float>();
        Assert.Throws<InvalidOperationException>(() => sdpa.Backward(T(3, 4)));
        sdpa.Forward(T(3, 4), T(5, 4), T(5, 2));
        Throws(() => sdpa.Backward(T(3, 4)), "dOutput", "[3, 2]", "[3, 4]");
        Throws(() => sdpa.Backward(T(3, 2), T(3, 5)), "dWeights", "no weights");
        sdpa.Backward(T(3, 2)); // the refused calls left the forward usable
        Assert.Throws<InvalidOperationException>(() => sdpa.Backward(T(3, 2)));
    }

    [Fact]
    public void MultiheadAttentionRejectsBadConstructionAndInputs()
    {
        Throws(() => new MultiheadAttention<float>(10, 4), "embedDim", "divisible by numHeads", "embedDim = 10", "numHeads = 4");
        Throws(() => new MultiheadAttention<float>(8, 2, dropout: 1), "dropout", "[0, 1)");
        var m = new MultiheadAttention<float>(8, 2, kdim: 5, vdim: 6);
        var q = T(4, 3, 8);
        Throws(() => m.Forward(T(4, 3, 7), T(6, 3, 5), T(6, 3, 6)), "query", "last dimension 8", "[4, 3, 7]");
        Throws(() => m.Forward(q, T(6, 3, 8), T(6, 3, 6)), "key", "last dimension 5", "[6, 3, 8]");
        Throws(() => m.Forward(q, T(6, 2, 5), T(6, 2, 6)), "key", "batch size 3", "[6, 2, 5]");
        Throws(() => m.Forward(q, T(6, 3, 5), T(7, 3, 6)), "value", "[6, 3]", "[7, 3, 6]");
        Throws(() => m.Forward(q, T(6, 5), T(6, 6)), "key", "rank 3");
        Throws(() => m.Forward(q, T(6, 3, 5), T(6, 3, 6), Tensor.Create(new bool[18], [6, 3])), "keyPaddingMask", "[3, 6]", "[6, 3]");
        Throws(() => m.Forward(q, T(6, 3, 5), T(6, 3, 6), attnMask: T(4, 4)), "attnMask", "[4, 6]", "[6, 4, 6]", "[4, 4]");
        m.Forward(q, T(6, 3, 5), T(6, 3, 6), needWeights: false);
        Throws(() => m.Backward(T(4, 3, 8), T(3, 4, 6)), "dWeights", "no weights");
        Throws(() => m.Backward(T(4, 3, 6)), "dOutput", "[4, 3, 8]");
    }
}
