namespace NeuralPrimitives.Tests.Models;

// Gpt<T> against checkpoints written by tests/reference/fixtures_gpt.py: a nanoGPT model's state_dict (logits, loss
// and every parameter gradient), Hugging Face GPT-2-shaped files (F16 with the full 50257-token vocabulary and a
// config.json; F32 with "transformer." prefixes and no config.json), and checkpoints that cannot be loaded.
public class GptCheckpointTests
{
    private static string FixturePath(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    private static Tensor<int> Ints(Fixture f, string key) => Tensor.Create(f.Ints(key), Array.ConvertAll(f.Shape(key), d => (nint)d));

    [Theory]
    [InlineData("nanogpt", 1e-12, 1e-10)]
    [InlineData("nanogpt_nobias", 1e-12, 1e-10)]
    public void NanoGptLogitsLossAndGradientsMatchPyTorch(string name, double atol, double rtol)
    {
        CheckNanoGpt<double>(name, atol, rtol);
        CheckNanoGpt<float>(name, 2e-4, 2e-3);
    }

    private static void CheckNanoGpt<T>(string name, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load("gpt_" + name);
        var model = Gpt<T>.LoadNanoGpt(FixturePath("gpt", name + ".safetensors"));    // n_head from the file's metadata
        Assert.Equal(new GptConfig(13, 16, 2, 2, 8) { Bias = name == "nanogpt" }, model.Config);
        model.Train();
        var loss = new CrossEntropyLoss<T>();
        for (int run = 0; run < 2; run++)   // gradients accumulate: zero them and get the same again
        {
            model.ZeroGrad();
            var logits = model.Forward(Ints(f, "tokens"));
            TestData.AssertClose<T>(f.Tensor<T>("logits").ToArray(), logits.AsReadOnlySpan(), atol, rtol, "logits");
            T value = loss.Forward(logits, Ints(f, "targets"));
            Assert.Equal(f.Data("loss")[0], double.CreateTruncating(value), atol * 10 + rtol);
            model.Backward(loss.Backward());
            foreach (var (key, p) in model.NamedParameters(removeDuplicate: false))
                TestData.AssertClose<T>(f.Tensor<T>("grad." + key).ToArray(), p.Grad, atol, rtol, "grad." + key);
        }
        TestData.AssertClose<T>(f.Tensor<T>("logits").ToArray(), model.Infer(Ints(f, "tokens")).AsReadOnlySpan(), atol, rtol, "Infer");
    }

    [Fact]
    public void TinyGpt2F16MatchesTheTorchForward()
    {
        var f = Fixture.Load("gpt2_tiny/expected");
        var path = FixturePath("gpt2_tiny", "model.safetensors");
        var config = Gpt2Checkpoint.InferConfig(path);   // n_head from config.json
        Assert.Equal(new GptConfig(50257, 64, 2, 2, 16) { Activation = FeedForwardActivation.GeluTanh }, config);
        CheckGpt2Tiny(Gpt2Checkpoint.Load<double>(path), f, 1e-11, 1e-10);
        var single = Gpt2Checkpoint.Load<float>(path);
        CheckGpt2Tiny(single, f, 2e-4, 1e-4);
        // the greedy continuation through the KV cache equals the script's full-pass one
        Assert.Equal(f.Ints("greedy.tokens"), Generation.Greedy(Gpt2Checkpoint.Load<double>(path), f.Ints("greedy.prompt"), 10));
    }

    private static void CheckGpt2Tiny<T>(Gpt<T> model, Fixture f, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var tokens = Ints(f, "tokens");
        int b = tokens.Lengths[0] is var bb ? (int)bb : 0, l = (int)tokens.Lengths[1], v = 50257;
        var z = model.Infer(tokens).ToArray();
        var head = f.Data("logits.head");
        var tail = f.Data("logits.tail");
        var lse = f.Data("logsumexp");
        var argmax = f.Ints("argmax");
        for (int r = 0; r < b * l; r++)
        {
            var row = z.AsSpan(r * v, v);
            TestData.AssertClose<T>(Array.ConvertAll(head[(r * 256)..((r + 1) * 256)], T.CreateTruncating), row[..256], atol, rtol, $"row {r} head");
            TestData.AssertClose<T>(Array.ConvertAll(tail[(r * 256)..((r + 1) * 256)], T.CreateTruncating), row[^256..], atol, rtol, $"row {r} tail");
            double max = double.CreateTruncating(TensorPrimitives.Max<T>(row)), sum = 0;
            foreach (var x in row) sum += Math.Exp(double.CreateTruncating(x) - max);
            Assert.Equal(lse[r], max + Math.Log(sum), atol * 100 + rtol);
            Assert.Equal(argmax[r], TensorPrimitives.IndexOfMax<T>(row));
        }
    }

    [Fact]
    public void PrefixedF32Gpt2WithBuffersLoadsWithTheHeadsGiven()
    {
        var f = Fixture.Load("gpt_gpt2_prefixed");
        var path = FixturePath("gpt", "gpt2_prefixed_f32.safetensors");
        var model = Gpt2Checkpoint.Load<double>(path, nHead: 3);
        Assert.Equal(new GptConfig(37, 20, 2, 3, 12) { Activation = FeedForwardActivation.GeluTanh }, model.Config);
        TestData.AssertClose<double>(f.Data("logits"), model.Infer(Ints(f, "tokens")).AsReadOnlySpan(), 1e-11, 1e-10, "logits");
        // no config.json here, so without nHead the configuration cannot be inferred
        var e = Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Load<float>(path));
        Assert.Equal("nHead", e.ParamName);
        Assert.Contains("n_head", e.Message);
    }

    [Fact]
    public void LoadedModelSavesUnderNanoGptNamesAndLoadsBack()
    {
        var model = Gpt2Checkpoint.Load<double>(FixturePath("gpt", "gpt2_prefixed_f32.safetensors"), nHead: 3);
        var dir = Directory.CreateTempSubdirectory("gpt-");
        try
        {
            var path = Path.Combine(dir.FullName, "saved.safetensors");
            SafeTensors.Save(model, path, new Dictionary<string, string> { ["n_head"] = "3", ["activation"] = "gelu_tanh" });
            var back = Gpt<double>.LoadNanoGpt(path);
            Assert.Equal(model.Config, back.Config);
            var tokens = Tensor.Create(new[] { 3, 1, 4, 1, 5, 9, 2, 6 }, [1, 8]);
            TestData.AssertClose<double>(model.Infer(tokens).ToArray(), back.Infer(tokens).AsReadOnlySpan(), 0, 0, "round trip");
        }
        finally
        {
            dir.Delete(true);
        }
    }

    // ---- unloadable checkpoints ----

    private static string WriteTemp(DirectoryInfo dir, string name, IReadOnlyDictionary<string, Tensor<float>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var path = Path.Combine(dir.FullName, name);
        SafeTensors.Save(tensors, path, metadata);
        return path;
    }

    [Fact]
    public void MissingUnexpectedAndMisshapedTensorsAreAllListed()
    {
        var dir = Directory.CreateTempSubdirectory("gpt-");
        try
        {
            var state = SafeTensors.Load<float>(FixturePath("gpt", "nanogpt.safetensors"));
            state.Remove("transformer.h.1.mlp.c_fc.bias");
            state.Add("transformer.h.0.attn.rotary.freq", Tensor.Create(new float[4], [4]));
            state["transformer.h.0.ln_2.weight"] = Tensor.Create(new float[9], [9]);
            var path = WriteTemp(dir, "bad.safetensors", state, new Dictionary<string, string> { ["n_head"] = "2" });
            var e = Assert.Throws<ArgumentException>(() => Gpt<float>.LoadNanoGpt(path));
            Assert.Contains("missing keys: transformer.h.1.mlp.c_fc.bias", e.Message);
            Assert.Contains("unexpected keys: transformer.h.0.attn.rotary.freq", e.Message);
            Assert.Contains("'transformer.h.0.ln_2.weight': expected [8], got [9]", e.Message);

            // GPT-2 layout: the same three problems under HF's names, in one message
            var hf = SafeTensors.Load<float>(FixturePath("gpt", "gpt2_prefixed_f32.safetensors"));
            hf.Remove("transformer.h.0.mlp.c_proj.bias");
            hf.Add("transformer.h.1.extra", Tensor.Create(new float[1], [1]));
            hf["transformer.h.1.attn.c_proj.weight"] = Tensor.Create(new float[12 * 13], [12, 13]);
            var hfPath = WriteTemp(dir, "bad_hf.safetensors", hf);
            var e2 = Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Load<float>(hfPath, nHead: 3));
            Assert.Contains("transformer.h.0.mlp.c_proj.bias", e2.Message);
            Assert.Contains("transformer.h.1.extra", e2.Message);
            Assert.Contains("'transformer.h.1.attn.c_proj.weight': expected [12, 12], got [13, 12]", e2.Message);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void ConfigurationsThatCannotBeInferredAreReported()
    {
        var dir = Directory.CreateTempSubdirectory("gpt-");
        try
        {
            var hf = SafeTensors.Load<float>(FixturePath("gpt", "gpt2_prefixed_f32.safetensors"));
            var noWte = new Dictionary<string, Tensor<float>>(hf);
            noWte.Remove("transformer.wte.weight");
            var e = Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Load<float>(WriteTemp(dir, "nowte.safetensors", noWte), nHead: 3));
            Assert.Contains("cannot be inferred", e.Message);
            Assert.Contains("wte.weight", e.Message);

            var heads = Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Load<float>(WriteTemp(dir, "h.safetensors", hf), nHead: 5));
            Assert.Contains("n_head = 5 does not divide n_embd = 12", heads.Message);

            // a config.json that contradicts the shapes
            var sub = dir.CreateSubdirectory("with_config");
            var path = WriteTemp(sub, "model.safetensors", hf);
            File.WriteAllText(Path.Combine(sub.FullName, "config.json"), """{"n_head": 3, "n_embd": 16, "n_layer": 2, "vocab_size": 37, "n_positions": 20}""");
            var contradicts = Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Load<float>(path));
            Assert.Contains("n_embd = 16 in config.json but the tensors give 12", contradicts.Message);
            File.WriteAllText(Path.Combine(sub.FullName, "config.json"), """{"n_head": 3}""");
            Assert.Contains("disagrees", Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Load<float>(path, nHead: 4)).Message);
            Assert.Equal(3, Gpt2Checkpoint.Load<float>(path).Config.NHead);

            // nanoGPT without n_head metadata
            var nano = SafeTensors.Load<float>(FixturePath("gpt", "nanogpt.safetensors"));
            var noHead = Assert.Throws<ArgumentException>(() => Gpt<float>.LoadNanoGpt(WriteTemp(dir, "nohead.safetensors", nano)));
            Assert.Contains("n_head cannot be inferred", noHead.Message);
            Assert.Equal(2, Gpt<float>.LoadNanoGpt(WriteTemp(dir, "nohead2.safetensors", nano), nHead: 2).Config.NHead);
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
