using NeuralPrimitives.Tests.Support;
using Xunit;

namespace NeuralPrimitives.Tests.Attention;

// Every bad argument gives an ArgumentException naming the public argument, with the expected and the actual values.
public class AttentionBadInputTests
{
    private static Tensor<float> T(params int[] shape) => TestData.Tensor<float>(new Rng(1), shape);

    private static void Throws(string param, string[] fragments, Action act)
    {
        var e = Assert.ThrowsAny<ArgumentException>(act);
        Assert.Equal(param, e.ParamName);
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void SdpaRejectsMismatchedShapes()
    {
        var q = T(2, 4, 5, 8);
        // dk differs between q and k
        Throws("key", ["dk = 8", "[2, 4, 6, 7]"], () => ScaledDotProductAttention.Compute(q, T(2, 4, 6, 7), T(2, 4, 6, 3)));
        // k and v with different lengths
        Throws("value", ["Lk = 6", "[2, 4, 5, 3]"], () => ScaledDotProductAttention.Compute(q, T(2, 4, 6, 8), T(2, 4, 5, 3)));
        // q heads not a multiple of the kv heads
        var gqa = new AttentionOptions { EnableGqa = true };
        Throws("key", ["4 heads", "multiple", "3 heads"], () => ScaledDotProductAttention.Compute(q, T(2, 3, 6, 8), T(2, 3, 6, 3), options: gqa));
        // fewer kv heads without EnableGqa
        Throws("key", ["EnableGqa", "[2, 2, 6, 8]"], () => ScaledDotProductAttention.Compute(q, T(2, 2, 6, 8), T(2, 2, 6, 3)));
        // other leading dimensions
        Throws("key", ["[2, 4]", "[3, 4, 6, 8]"], () => ScaledDotProductAttention.Compute(q, T(3, 4, 6, 8), T(3, 4, 6, 3)));
        Throws("value", ["[2, 4, 6]", "[2, 2, 6, 3]"], () => ScaledDotProductAttention.Compute(q, T(2, 4, 6, 8), T(2, 2, 6, 3), options: gqa));
        Throws("key", ["rank of query (4)"], () => ScaledDotProductAttention.Compute(q, T(4, 6, 8), T(4, 6, 3)));
        Throws("query", ["rank ≥ 2", "[8]"], () => ScaledDotProductAttention.Compute(T(8), T(6, 8), T(6, 3)));
    }

    [Fact]
    public void SdpaRejectsMasksThatDoNotBroadcast()
    {
        var (q, k, v) = (T(2, 4, 5, 8), T(2, 4, 6, 8), T(2, 4, 6, 3));
        Throws("attnMask", ["[5, 5]", "[2, 4, 5, 6]"], () => ScaledDotProductAttention.Compute(q, k, v, AttentionMask<float>.Keep(Tensor.Create(new bool[25], [5, 5]))));
        Throws("attnMask", ["[3, 1, 5, 6]"], () => ScaledDotProductAttention.Compute(q, k, v, T(3, 1, 5, 6)));
        Throws("attnMask", ["[1, 2, 4, 5, 6]"], () => ScaledDotProductAttention.Compute(q, k, v, T(1, 2, 4, 5, 6)));
        Throws("attnMask", ["no tensor"], () => ScaledDotProductAttention.Compute(q, k, v, default(AttentionMask<float>)));
        // Broadcastable shapes are accepted.
        ScaledDotProductAttention.Compute(q, k, v, T(6));
        ScaledDotProductAttention.Compute(q, k, v, T(2, 1, 1, 6));
        ScaledDotProductAttention.Compute(q, k, v, AttentionMask<float>.Ignore(Tensor.Create(new bool[20 * 6], [4, 5, 6])));
    }

    [Fact]
    public void OptionsRejectBadValues()
    {
        Throws("DropoutP", ["[0, 1]", "1.5"], () => _ = new AttentionOptions { DropoutP = 1.5 });
        Throws("Scale", ["finite", "NaN"], () => _ = new AttentionOptions { Scale = double.NaN });
        Throws("left", ["≥ 0", "-1"], () => _ = new AttentionWindow(-1, 2));
        Throws("options", ["NeedWeights"], () => ScaledDotProductAttention.Compute(T(3, 4), T(3, 4), T(3, 4),
            options: new AttentionOptions { NeedWeights = true, Algorithm = AttentionAlgorithm.MemoryEfficient }));
    }

    [Fact]
    public void SdpaBackwardChecksItsArguments()
    {
        var sdpa = new ScaledDotProductAttention<float>();
        Assert.Throws<InvalidOperationException>(() => sdpa.Backward(T(3, 4)));
        sdpa.Forward(T(3, 4), T(5, 4), T(5, 2));
        Throws("dOutput", ["[3, 2]", "[3, 4]"], () => sdpa.Backward(T(3, 4)));
        Throws("dWeights", ["no weights"], () => sdpa.Backward(T(3, 2), T(3, 5)));
        sdpa.Backward(T(3, 2)); // the refused calls left the forward usable
        Assert.Throws<InvalidOperationException>(() => sdpa.Backward(T(3, 2)));
    }

    [Fact]
    public void MultiheadAttentionRejectsBadConstructionAndInputs()
    {
        Throws("embedDim", ["divisible by numHeads", "embedDim = 10", "numHeads = 4"], () => new MultiheadAttention<float>(10, 4));
        Throws("dropout", ["[0, 1)"], () => new MultiheadAttention<float>(8, 2, dropout: 1));
        var m = new MultiheadAttention<float>(8, 2, kdim: 5, vdim: 6);
        var q = T(4, 3, 8);
        Throws("query", ["last dimension 8", "[4, 3, 7]"], () => m.Forward(T(4, 3, 7), T(6, 3, 5), T(6, 3, 6)));
        Throws("key", ["last dimension 5", "[6, 3, 8]"], () => m.Forward(q, T(6, 3, 8), T(6, 3, 6)));
        Throws("key", ["batch size 3", "[6, 2, 5]"], () => m.Forward(q, T(6, 2, 5), T(6, 2, 6)));
        Throws("value", ["[6, 3]", "[7, 3, 6]"], () => m.Forward(q, T(6, 3, 5), T(7, 3, 6)));
        Throws("key", ["rank 3"], () => m.Forward(q, T(6, 5), T(6, 6)));
        Throws("keyPaddingMask", ["[3, 6]", "[6, 3]"], () => m.Forward(q, T(6, 3, 5), T(6, 3, 6), Tensor.Create(new bool[18], [6, 3])));
        Throws("attnMask", ["[4, 6]", "[6, 4, 6]", "[4, 4]"], () => m.Forward(q, T(6, 3, 5), T(6, 3, 6), attnMask: T(4, 4)));
        m.Forward(q, T(6, 3, 5), T(6, 3, 6), needWeights: false);
        Throws("dWeights", ["no weights"], () => m.Backward(T(4, 3, 8), T(3, 4, 6)));
        Throws("dOutput", ["[4, 3, 8]"], () => m.Backward(T(4, 3, 6)));
    }
}
