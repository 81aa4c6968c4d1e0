// nn.TransformerEncoderLayer, nn.TransformerDecoderLayer and nn.Transformer against PyTorch (tests/reference/
// fixtures_transformer.py, float64, dropout 0): the state_dict is loaded from safetensors through LoadStateDict
// (strict: every key is PyTorch's), then the output, the input gradients and EVERY parameter gradient of
// L = Σ dy ⊙ y are compared with PyTorch's.
using NeuralPrimitives.Tests.Support;
using Xunit;

namespace NeuralPrimitives.Tests.Transformer;

public class TransformerFixtureTests
{
    internal const int E = 8, H = 2, FF = 16;

    private static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "transformer", name);

    /// <summary>A fixture's inputs, masks and expected values, converted to <typeparamref name="T"/>.</summary>
    internal sealed class Case<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public readonly OrderedDictionary<string, Tensor<T>> Io;

        public Case(string name) => Io = SafeTensors.Load<T>(PathOf(name + ".io.safetensors"));

        public Tensor<T> this[string key] => Io[key];

        public AttentionMask<T>? Mask(string key) =>
            Io.TryGetValue(key + ".bool", out var b) ? AttentionMask<T>.Ignore(Bools(b))
            : Io.TryGetValue(key + ".float", out var f) ? AttentionMask<T>.Additive(f) : (AttentionMask<T>?)null;

        public Tensor<bool>? Padding(string key) => Io.TryGetValue(key + ".bool", out var b) ? Bools(b) : null;

        private static Tensor<bool> Bools(Tensor<T> t) => Tensor.Create(Array.ConvertAll(t.ToArray(), v => v != T.Zero), t.Lengths);

        /// <summary>Every parameter's gradient equals PyTorch's grad.&lt;key&gt;; each key of the module has one.</summary>
        public void CheckParameterGradients(Module<T> module, double atol, double rtol)
        {
            int n = 0;
            foreach (var (name, p) in module.NamedParameters())
            {
                TestData.AssertClose<T>(this["grad." + name].AsReadOnlySpan(), p.Grad, atol, rtol, "grad." + name);
                n++;
            }
            Assert.Equal(Io.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)), n);
        }
    }

    internal static TModule Load<T, TModule>(string name, TModule module) where T : unmanaged, IBinaryFloatingPointIeee754<T> where TModule : Module<T>
    {
        var result = SafeTensors.LoadInto(module, PathOf(name + ".safetensors"));
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        return module;
    }

    public static TheoryData<string, bool, FeedForwardActivation, bool> EncoderCases() => new()
    {
        { "enc_post_relu", false, FeedForwardActivation.Relu, false },
        { "enc_pre_gelu_bf", true, FeedForwardActivation.Gelu, true },
    };

    public static TheoryData<string, bool, FeedForwardActivation, bool> DecoderCases() => new()
    {
        { "dec_post_relu", false, FeedForwardActivation.Relu, false },
        { "dec_pre_gelu_bf", true, FeedForwardActivation.Gelu, true },
    };

    public static TheoryData<string, bool, FeedForwardActivation, bool> TransformerCases() => new()
    {
        { "transformer_post_relu", false, FeedForwardActivation.Relu, false },
        { "transformer_pre_gelu_bf", true, FeedForwardActivation.Gelu, true },
    };

    [Theory]
    [MemberData(nameof(EncoderCases))]
    public void EncoderLayerMatchesPyTorch(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst)
    {
        Encoder<double>(name, normFirst, activation, batchFirst, 1e-10, 1e-9);
        Encoder<float>(name, normFirst, activation, batchFirst, 2e-4, 2e-3);
    }

    private static void Encoder<T>(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst, double atol, double rtol)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var c = new Case<T>(name);
        var layer = Load<T, TransformerEncoderLayer<T>>(name, new TransformerEncoderLayer<T>(E, H, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: new Rng(1)));
        var y = layer.Forward(c["src"], c.Mask("src_mask"), c.Padding("src_key_padding_mask"));
        TestData.AssertClose<T>(c["y"].AsReadOnlySpan(), y.AsReadOnlySpan(), atol, rtol, "y");
        TestData.AssertClose<T>(c["y"].AsReadOnlySpan(), layer.Infer(c["src"], c.Mask("src_mask"), c.Padding("src_key_padding_mask")).AsReadOnlySpan(), atol, rtol, "Infer");
        var dSrc = layer.Backward(c["dy"]);
        TestData.AssertClose<T>(c["d_src"].AsReadOnlySpan(), dSrc.AsReadOnlySpan(), atol, rtol, "d_src");
        c.CheckParameterGradients(layer, atol, rtol);
    }

    [Theory]
    [MemberData(nameof(DecoderCases))]
    public void DecoderLayerMatchesPyTorch(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst)
    {
        Decoder<double>(name, normFirst, activation, batchFirst, 1e-10, 1e-9);
        Decoder<float>(name, normFirst, activation, batchFirst, 2e-4, 2e-3);
    }

    private static void Decoder<T>(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst, double atol, double rtol)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var c = new Case<T>(name);
        var layer = Load<T, TransformerDecoderLayer<T>>(name, new TransformerDecoderLayer<T>(E, H, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: new Rng(2)));
        var y = layer.Forward(c["tgt"], c["memory"], c.Mask("tgt_mask"), c.Mask("memory_mask"), c.Padding("tgt_key_padding_mask"), c.Padding("memory_key_padding_mask"));
        TestData.AssertClose<T>(c["y"].AsReadOnlySpan(), y.AsReadOnlySpan(), atol, rtol, "y");
        var (dTgt, dMemory) = layer.Backward(c["dy"]);
        TestData.AssertClose<T>(c["d_tgt"].AsReadOnlySpan(), dTgt.AsReadOnlySpan(), atol, rtol, "d_tgt");
        TestData.AssertClose<T>(c["d_memory"].AsReadOnlySpan(), dMemory.AsReadOnlySpan(), atol, rtol, "d_memory");
        c.CheckParameterGradients(layer, atol, rtol);
    }

    [Fact]
    public void CausalFlagEqualsTheCausalMask()
    {
        // dec_pre_gelu_bf's tgt_mask is generate_square_subsequent_mask: tgtIsCausal gives the same output without it.
        var c = new Case<double>("dec_pre_gelu_bf");
        var layer = Load<double, TransformerDecoderLayer<double>>("dec_pre_gelu_bf", new TransformerDecoderLayer<double>(E, H, FF, 0, FeedForwardActivation.Gelu, batchFirst: true, normFirst: true));
        var y = layer.Infer(c["tgt"], c["memory"], memoryKeyPaddingMask: c.Padding("memory_key_padding_mask"), tgtIsCausal: true);
        TestData.AssertClose<double>(c["y"].AsReadOnlySpan(), y.AsReadOnlySpan(), 1e-10, 1e-9, "y");
        Assert.Equal(c["tgt_mask.float"].ToArray(), Transformer<double>.GenerateSquareSubsequentMask(4).ToArray());
    }

    [Theory]
    [MemberData(nameof(TransformerCases))]
    public void TransformerMatchesPyTorch(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst)
    {
        Full<double>(name, normFirst, activation, batchFirst, 1e-10, 1e-9);
        Full<float>(name, normFirst, activation, batchFirst, 3e-4, 3e-3);
    }

    private static void Full<T>(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst, double atol, double rtol)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var c = new Case<T>(name);
        var model = Load<T, Transformer<T>>(name, new Transformer<T>(E, H, 2, 2, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: new Rng(3)));
        var y = model.Forward(c["src"], c["tgt"], c.Mask("src_mask"), c.Mask("tgt_mask"), c.Mask("memory_mask"),
            c.Padding("src_key_padding_mask"), c.Padding("tgt_key_padding_mask"), c.Padding("memory_key_padding_mask"));
        TestData.AssertClose<T>(c["y"].AsReadOnlySpan(), y.AsReadOnlySpan(), atol, rtol, "y");
        var (dSrc, dTgt) = model.Backward(c["dy"]);
        TestData.AssertClose<T>(c["d_src"].AsReadOnlySpan(), dSrc.AsReadOnlySpan(), atol, rtol, "d_src");
        TestData.AssertClose<T>(c["d_tgt"].AsReadOnlySpan(), dTgt.AsReadOnlySpan(), atol, rtol, "d_tgt");
        c.CheckParameterGradients(model, atol, rtol);
    }
}
