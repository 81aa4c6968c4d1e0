// nn.TransformerEncoderLayer, nn.TransformerDecoderLayer and nn.Transformer against PyTorch (tests/reference/
// fixtures_transformer.py, float64, dropout 0): the state_dict is loaded from safetensors through LoadStateDict
// (strict: every key is PyTorch's), then the output, the input gradients and EVERY parameter gradient of
// L = Σ dy ⊙ y are compared with PyTorch's.

namespace NeuralPrimitives.Tests.Transformer;

public class TransformerFixtureTests
{
    internal const int E = 8, H = 2, FF = 16;

    private static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "transformer", name);

    /// <summary>A fixture's inputs, masks and expected values, converted to <typeparamref name="T"/>, and the tolerances to compare with.</summary>
    internal sealed class Case<T>(string name, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public readonly OrderedDictionary<string, Tensor<T>> Io = SafeTensors.Load<T>(PathOf(name + ".io.safetensors"));

        public Tensor<T> this[string key] => Io[key];

        public AttentionMask<T>? Mask(string key) =>
            Io.TryGetValue(key + ".bool", out var b) ? AttentionMask<T>.Ignore(Bools(b))
            : Io.TryGetValue(key + ".float", out var f) ? AttentionMask<T>.Additive(f) : (AttentionMask<T>?)null;

        public Tensor<bool>? Padding(string key) => Io.TryGetValue(key + ".bool", out var b) ? Bools(b) : null;

        private static Tensor<bool> Bools(Tensor<T> t) => Tensor.Create(Array.ConvertAll(t.ToArray(), v => v != T.Zero), t.Lengths);

        /// <summary>Loads the fixture's state_dict into <paramref name="module"/> (strict: every key is PyTorch's).</summary>
        public TModule Load<TModule>(TModule module) where TModule : Module<T>
        {
            var result = SafeTensors.LoadInto(module, PathOf(name + ".safetensors"));
            Assert.Empty(result.MissingKeys);
            Assert.Empty(result.UnexpectedKeys);
            return module;
        }

        /// <summary><paramref name="actual"/> equals PyTorch's <paramref name="key"/>.</summary>
        public void Check(string key, Tensor<T> actual, string? what = null) =>
            TestData.AssertClose<T>(this[key].AsReadOnlySpan(), actual.AsReadOnlySpan(), atol, rtol, $"{typeof(T).Name} {what ?? key}");

        /// <summary>Every parameter's gradient equals PyTorch's grad.&lt;key&gt;; each key of the module has one.</summary>
        public void CheckParameterGradients(Module<T> module)
        {
            int n = 0;
            foreach (var (key, p) in module.NamedParameters())
            {
                TestData.AssertClose<T>(this["grad." + key].AsReadOnlySpan(), p.Grad, atol, rtol, $"{typeof(T).Name} grad.{key}");
                n++;
            }
            Assert.Equal(Io.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)), n);
        }
    }

    /// <summary>The two fixtures of <paramref name="module"/> (name, normFirst, activation, batchFirst): post-norm, ReLU,
    /// sequence-first; and pre-norm (norm_first), GELU, batch-first.</summary>
    private static TheoryData<string, bool, FeedForwardActivation, bool> Variants(string module) => new()
    {
        { module + "_post_relu", false, FeedForwardActivation.Relu, false },
        { module + "_pre_gelu_bf", true, FeedForwardActivation.Gelu, true },
    };

    public static TheoryData<string, bool, FeedForwardActivation, bool> EncoderCases() => Variants("enc");

    public static TheoryData<string, bool, FeedForwardActivation, bool> DecoderCases() => Variants("dec");

    public static TheoryData<string, bool, FeedForwardActivation, bool> TransformerCases() => Variants("transformer");

    // Each case runs in double, then in float (the messages name the type).
    [Theory]
    [MemberData(nameof(EncoderCases))]
    public void EncoderLayerMatchesPyTorch(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst)
    {
        Encoder(new Case<double>(name, 1e-10, 1e-9));
        Encoder(new Case<float>(name, 2e-4, 2e-3));

        void Encoder<T>(Case<T> c) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            var layer = c.Load(new TransformerEncoderLayer<T>(E, H, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: new Rng(1)));
            c.Check("y", layer.Forward(c["src"], c.Mask("src_mask"), c.Padding("src_key_padding_mask")));
            c.Check("y", layer.Infer(c["src"], c.Mask("src_mask"), c.Padding("src_key_padding_mask")), "Infer");
            c.Check("d_src", layer.Backward(c["dy"]));
            c.CheckParameterGradients(layer);
        }
    }

    [Theory]
    [MemberData(nameof(DecoderCases))]
    public void DecoderLayerMatchesPyTorch(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst)
    {
        Decoder(new Case<double>(name, 1e-10, 1e-9));
        Decoder(new Case<float>(name, 2e-4, 2e-3));

        void Decoder<T>(Case<T> c) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            var layer = c.Load(new TransformerDecoderLayer<T>(E, H, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: new Rng(2)));
            c.Check("y", layer.Forward(c["tgt"], c["memory"], c.Mask("tgt_mask"), c.Mask("memory_mask"), c.Padding("tgt_key_padding_mask"), c.Padding("memory_key_padding_mask")));
            var (dTgt, dMemory) = layer.Backward(c["dy"]);
            c.Check("d_tgt", dTgt);
            c.Check("d_memory", dMemory);
            c.CheckParameterGradients(layer);
        }
    }

    [Fact]
    public void CausalFlagEqualsTheCausalMask()
    {
        // dec_pre_gelu_bf's tgt_mask is generate_square_subsequent_mask: tgtIsCausal gives the same output without it.
        var c = new Case<double>("dec_pre_gelu_bf", 1e-10, 1e-9);
        var layer = c.Load(new TransformerDecoderLayer<double>(E, H, FF, 0, FeedForwardActivation.Gelu, batchFirst: true, normFirst: true));
        c.Check("y", layer.Infer(c["tgt"], c["memory"], memoryKeyPaddingMask: c.Padding("memory_key_padding_mask"), tgtIsCausal: true));
        Assert.Equal(c["tgt_mask.float"].ToArray(), Transformer<double>.GenerateSquareSubsequentMask(4).ToArray());
    }

    [Theory]
    [MemberData(nameof(TransformerCases))]
    public void TransformerMatchesPyTorch(string name, bool normFirst, FeedForwardActivation activation, bool batchFirst)
    {
        Full(new Case<double>(name, 1e-10, 1e-9));
        Full(new Case<float>(name, 3e-4, 3e-3));

        void Full<T>(Case<T> c) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            var model = c.Load(new Transformer<T>(E, H, 2, 2, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: new Rng(3)));
            c.Check("y", model.Forward(c["src"], c["tgt"], c.Mask("src_mask"), c.Mask("tgt_mask"), c.Mask("memory_mask"),
                c.Padding("src_key_padding_mask"), c.Padding("tgt_key_padding_mask"), c.Padding("memory_key_padding_mask")));
            var (dSrc, dTgt) = model.Backward(c["dy"]);
            c.Check("d_src", dSrc);
            c.Check("d_tgt", dTgt);
            c.CheckParameterGradients(model);
        }
    }
}
