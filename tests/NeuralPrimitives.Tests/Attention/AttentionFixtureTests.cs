using System.Text.Json;

namespace NeuralPrimitives.Tests.Attention;

// Outputs, weights and every gradient against PyTorch (tests/reference/fixtures_attention.py): nn.MultiheadAttention
// itself, and scaled dot-product attention against PyTorch 2's reference math run through autograd.
public class AttentionFixtureTests
{
    private static bool Flag(Fixture f, string name) => f.Meta.GetProperty(name).GetBoolean();

    private static Tensor<bool> Bools(Fixture f, string key) =>
        Tensor.Create(Array.ConvertAll(f.Data(key), v => v != 0), Array.ConvertAll(f.Shape(key), d => (nint)d));

    private static void AssertTensor(Fixture f, string key, Tensor<double> actual, double tol = 1e-10)
    {
        Assert.Equal(f.Shape(key), actual.Shape());
        TestData.AssertClose<double>(f.Data(key), actual.AsReadOnlySpan(), tol, tol, key);
    }

    [Theory]
    [InlineData("self")]
    [InlineData("cross_kvdim")]
    [InlineData("bias_kv_zero_attn")]
    [InlineData("causal")]
    [InlineData("bool_mask_noweights")]
    [InlineData("unbatched")]
    public void MultiheadAttentionMatchesPyTorch(string name)
    {
        var f = Fixture.Load("attention_mha_" + name);
        var meta = f.Meta;
        var m = new MultiheadAttention<double>(meta.GetProperty("embed_dim").GetInt32(), meta.GetProperty("num_heads").GetInt32(),
            bias: Flag(f, "bias"), addBiasKV: Flag(f, "add_bias_kv"), addZeroAttn: Flag(f, "add_zero_attn"),
            kdim: meta.GetProperty("kdim").GetInt32(), vdim: meta.GetProperty("vdim").GetInt32(), batchFirst: Flag(f, "batch_first"));
        var state = m.StateDict().Keys.ToDictionary(k => k, k => f.Tensor<double>(k));
        m.LoadStateDict(state);

        bool self = Flag(f, "self"), needWeights = Flag(f, "need_weights"), average = Flag(f, "average");
        var query = f.Tensor<double>("query");
        var key = self ? query : f.Tensor<double>("key");
        var value = self ? query : f.Tensor<double>("value");
        var kpm = Flag(f, "key_padding") ? Bools(f, "key_padding_mask") : null;
        AttentionMask<double>? mask = meta.GetProperty("mask_kind").GetString() switch
        {
            "bool" => AttentionMask<double>.Ignore(Bools(f, "attn_mask_blocked")),
            "float" => AttentionMask<double>.Additive(Tensor.Create(f.Data("attn_mask_add").Zip(f.Data("attn_mask_blocked"), (a, b) => b != 0 ? double.NegativeInfinity : a).ToArray(),
                Array.ConvertAll(f.Shape("attn_mask_add"), d => (nint)d))),
            _ => (AttentionMask<double>?)null,
        };

        // The float mask of the causal case is the causal mask: isCausal must give the same results.
        var variants = new List<(AttentionMask<double>? Mask, bool Causal)> { (mask, false) };
        if (Flag(f, "causal")) variants.Add((null, true));
        foreach (var (attnMask, causal) in variants)
        {
            m.ZeroGrad();
            var result = m.Forward(query, key, value, kpm, needWeights, attnMask, average, causal);
            AssertTensor(f, "output", result.Output);
            if (needWeights) AssertTensor(f, "weights", result.Weights!);
            else Assert.Null(result.Weights);
            var inferred = m.Infer(query, key, value, kpm, needWeights, attnMask, average, causal);
            AssertTensor(f, "output", inferred.Output);

            var grads = m.Backward(f.Tensor<double>("R_out"), needWeights ? f.Tensor<double>("R_w") : null);
            AssertTensor(f, "grad.query", grads.DQuery);
            if (self)
            {
                Assert.Null(grads.DKey);
                Assert.Null(grads.DValue);
            }
            else
            {
                AssertTensor(f, "grad.key", grads.DKey!);
                AssertTensor(f, "grad.value", grads.DValue!);
            }
            foreach (var (pname, p) in m.NamedParameters())
                TestData.AssertClose<double>(f.Data("grad." + pname), p.Grad, 1e-10, 1e-10, "grad." + pname);
        }
    }

    [Theory]
    [InlineData("basic")]
    [InlineData("bool_mask")]
    [InlineData("float_mask")]
    [InlineData("causal")]
    [InlineData("causal_bottom_right")]
    [InlineData("gqa")]
    public void ScaledDotProductAttentionMatchesPyTorchMath(string name)
    {
        var f = Fixture.Load("attention_sdpa_" + name);
        var meta = f.Meta;
        var scale = meta.GetProperty("scale").ValueKind == JsonValueKind.Null ? (double?)null : meta.GetProperty("scale").GetDouble();
        AttentionMask<double>? mask = f.Has("mask_keep") ? AttentionMask<double>.Keep(Bools(f, "mask_keep"))
            : f.Has("mask_add") ? AttentionMask<double>.Additive(f.Tensor<double>("mask_add")) : (AttentionMask<double>?)null;
        var options = new AttentionOptions
        {
            Scale = scale,
            IsCausal = Flag(f, "is_causal"),
            CausalAlignment = Flag(f, "bottom_right") ? CausalAlignment.BottomRight : CausalAlignment.TopLeft,
            EnableGqa = Flag(f, "enable_gqa"),
            NeedWeights = true,
        };
        Tensor<double> q = f.Tensor<double>("q"), k = f.Tensor<double>("k"), v = f.Tensor<double>("v");

        var exact = new ScaledDotProductAttention<double>();
        var result = exact.Forward(q, k, v, mask, options);
        AssertTensor(f, "output", result.Output);
        AssertTensor(f, "weights", result.Weights!);
        var g = exact.Backward(f.Tensor<double>("R_out"), f.Tensor<double>("R_w"));
        AssertTensor(f, "grad.q", g.DQuery);
        AssertTensor(f, "grad.k", g.DKey);
        AssertTensor(f, "grad.v", g.DValue);

        foreach (var algorithm in new[] { AttentionAlgorithm.Exact, AttentionAlgorithm.MemoryEfficient })
        {
            var sdpa = new ScaledDotProductAttention<double>();
            var o = sdpa.Forward(q, k, v, mask, options with { NeedWeights = false, Algorithm = algorithm }).Output;
            AssertTensor(f, "output", o);
            var go = sdpa.Backward(f.Tensor<double>("R_out"));
            AssertTensor(f, "grad_output_only.q", go.DQuery);
            AssertTensor(f, "grad_output_only.k", go.DKey);
            AssertTensor(f, "grad_output_only.v", go.DValue);
        }
    }
}
