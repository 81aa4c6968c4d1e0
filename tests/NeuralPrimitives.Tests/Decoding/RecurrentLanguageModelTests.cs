namespace NeuralPrimitives.Tests.Decoding;

// RecurrentLanguageModel against PyTorch's word_language_model RNNModel (tests/reference/fixtures_decoding.py →
// Fixtures/decoding_rnnlm_*.json: logits, final state and every parameter gradient of L = Σ R ⊙ logits, and a greedy
// decoding with its per-step logits), double gradient checks, and its decoding path against its whole-sequence Infer.
public class RecurrentLanguageModelTests
{
    public static TheoryData<string> Cases => ["lstm", "gru_tied", "rnn_tanh", "rnn_relu_tied"];

    private static RecurrentLanguageModel<T> FromFixture<T>(Fixture f) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var m = f.Meta;
        var kind = m.GetProperty("rnn_type").GetString() switch
        {
            "LSTM" => RnnType.Lstm, "GRU" => RnnType.Gru, "RNN_TANH" => RnnType.RnnTanh, _ => RnnType.RnnRelu,
        };
        var model = new RecurrentLanguageModel<T>(kind, m.GetProperty("ntoken").GetInt32(), m.GetProperty("ninp").GetInt32(),
            m.GetProperty("nhid").GetInt32(), m.GetProperty("nlayers").GetInt32(), tieWeights: m.GetProperty("tied").GetBoolean(), rng: new Rng(1));
        // PyTorch's state_dict, loaded by its own names (strict: every key must match).
        var state = model.StateDict().Keys.ToDictionary(k => k, f.Tensor<double>);
        model.LoadStateDict(state);
        return model;
    }

    private static Tensor<int> Tokens(Fixture f) => Tensor.Create(f.Ints("tokens"), Array.ConvertAll(f.Shape("tokens"), d => (nint)d));

    private static RecurrentLanguageModelState<T> InitialState<T>(Fixture f) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        new(f.Tensor<T>("h0"), f.Has("c0") ? f.Tensor<T>("c0") : null);

    [Theory]
    [MemberData(nameof(Cases))]
    public void DoubleMatchesPyTorch(string name) => CheckAgainstPyTorch<double>(name, 1e-12, 1e-10);

    [Theory]
    [MemberData(nameof(Cases))]
    public void FloatMatchesPyTorch(string name) => CheckAgainstPyTorch<float>(name, 1e-4, 1e-4);

    private static void CheckAgainstPyTorch<T>(string name, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load("decoding_rnnlm_" + name);
        var model = FromFixture<T>(f);
        var expectedLogits = f.Tensor<T>("logits").ToArray();
        for (int run = 0; run < 2; run++) // twice: gradients accumulate, so zero them and get the same again
        {
            model.ZeroGrad();
            var (logits, state) = model.Forward(Tokens(f), InitialState<T>(f));
            TestData.AssertClose<T>(expectedLogits, logits.AsReadOnlySpan(), atol, rtol, "logits");
            TestData.AssertClose<T>(f.Tensor<T>("h_n").ToArray(), state.H.AsReadOnlySpan(), atol, rtol, "h_n");
            if (f.Has("c_n")) TestData.AssertClose<T>(f.Tensor<T>("c_n").ToArray(), state.C!.AsReadOnlySpan(), atol, rtol, "c_n");
            model.Backward(f.Tensor<T>("R"));
            foreach (var (key, p) in model.NamedParameters(removeDuplicate: false))
                TestData.AssertClose<T>(f.Tensor<T>("grad." + key).ToArray(), p.Grad, atol, rtol, "grad." + key);
        }
        var (inferred, _) = model.Infer(Tokens(f), InitialState<T>(f));
        TestData.AssertClose<T>(expectedLogits, inferred.AsReadOnlySpan(), atol, rtol, "Infer logits");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyDecodingMatchesPyTorch(string name)
    {
        var f = Fixture.Load("decoding_rnnlm_" + name);
        var model = FromFixture<double>(f);
        var prompt = f.Ints("greedy.prompt");
        Assert.Equal(f.Ints("greedy.tokens"), Generation.Greedy(model, prompt, f.Ints("greedy.tokens").Length));

        // The logits each token was chosen from, step by step through the decoding interface.
        int v = model.VocabularySize;
        var expected = f.Data("greedy.logits");
        var state = model.InitialState(1);
        var logits = new double[v];
        model.Prefill(prompt, ref state, logits);
        foreach (var (token, step) in f.Ints("greedy.tokens").Select((t, i) => (t, i)))
        {
            TestData.AssertClose<double>(expected.AsSpan(step * v, v), logits, 1e-12, 1e-10, $"step {step}");
            model.NextLogits([token], ref state, logits);
        }
    }

    [Fact]
    public void StateDictNamesArePyTorchs()
    {
        var lstm = new RecurrentLanguageModel<float>(RnnType.Lstm, 10, 4, 6, numLayers: 2);
        string[] layer(int l) => [$"rnn.weight_ih_l{l}", $"rnn.weight_hh_l{l}", $"rnn.bias_ih_l{l}", $"rnn.bias_hh_l{l}"];
        Assert.Equal(["encoder.weight", .. layer(0), .. layer(1), "decoder.weight", "decoder.bias"], lstm.StateDict().Keys);
        Assert.Equal([10, 4], lstm.GetParameter("encoder.weight").Shape.ToArray());
        Assert.Equal([24, 4], lstm.GetParameter("rnn.weight_ih_l0").Shape.ToArray());
        Assert.Equal([10, 6], lstm.GetParameter("decoder.weight").Shape.ToArray());

        var tied = new RecurrentLanguageModel<float>(RnnType.Gru, 10, 6, 6, tieWeights: true);
        Assert.Contains("decoder.weight", tied.StateDict().Keys);            // both names in the state_dict, as PyTorch
        Assert.DoesNotContain("decoder.weight", tied.NamedParameters().Select(p => p.Name)); // one parameter to optimise
        Assert.Same(tied.Encoder.Weight, tied.Decoder.Weight);
    }

    [Fact]
    public void InitialisationIsTheExamples()
    {
        var model = new RecurrentLanguageModel<double>(RnnType.Lstm, 50, 8, 8, rng: new Rng(2));
        Assert.All(model.Encoder.Weight.Data, w => Assert.InRange(w, -0.1, 0.1));
        Assert.All(model.Decoder.Weight.Data, w => Assert.InRange(w, -0.1, 0.1));
        Assert.All(model.Decoder.Bias!.Data, b => Assert.Equal(0, b));
        Assert.True(model.Encoder.Weight.Data.Max() > 0.08 && model.Encoder.Weight.Data.Min() < -0.08);
        double bound = 1 / Math.Sqrt(8);
        Assert.All(model.GetParameter("rnn.weight_hh_l0").Data, w => Assert.InRange(w, -bound, bound));
    }

    // ---- gradient checks (double, central differences) ----

    public static TheoryData<RnnType, bool, double> GradientCases => new()
    {
        { RnnType.Lstm, false, 0 }, { RnnType.Gru, true, 0 }, { RnnType.RnnTanh, false, 0 }, { RnnType.RnnRelu, true, 0 },
        { RnnType.Lstm, true, 0.3 }, { RnnType.Gru, false, 0.25 },
    };

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradientCheckPasses(RnnType kind, bool tied, double dropout)
    {
        var rng = new Rng(5);
        var model = new RecurrentLanguageModel<double>(kind, 6, 4, 4, numLayers: 2, dropout: dropout, tieWeights: tied,
            embeddingDropout: dropout / 2, rng: rng);
        var init = new Rng(6);
        foreach (var p in model.Parameters()) init.FillUniform<double>(p.Data, -0.6, 0.6);
        var tokens = Tensor.Create(Enumerable.Range(0, 4 * 3).Select(_ => rng.NextInt(6)).ToArray(), [4, 3]);
        var state = model.InitialState(3);
        rng.FillNormal<double>(state.H.AsSpan(), 0, 0.5);
        if (state.C is not null) rng.FillNormal<double>(state.C.AsSpan(), 0, 0.5);
        Tensor<double>? logits = null;
        var problem = new GradientCheckProblem
        {
            Inputs = [],
            Parameters = [.. model.NamedParameters()],
            Forward = () =>
            {
                // the same dropout masks on every forward: reseed both generators
                model.DropoutRng = new Rng(77);
                model.Rnn.DropoutRng = new Rng(78);
                logits = model.Forward(tokens, state).Logits;
                return [logits.ToArray()];
            },
            Backward = dOut => { model.Backward(Tensor.Create(dOut[0], logits!.Lengths)); return []; },
        };
        GradientCheck.Run(problem).EnsurePassed();
    }

    // ---- the decoding path ----

    [Theory]
    [InlineData(RnnType.Lstm)]
    [InlineData(RnnType.Gru)]
    [InlineData(RnnType.RnnRelu)]
    public void StepByStepDecodingEqualsInferOverTheWholeSequence(RnnType kind)
    {
        const int steps = 9, batch = 2, v = 7;
        var model = new RecurrentLanguageModel<double>(kind, v, 5, 6, numLayers: 2, rng: new Rng(8));
        var rng = new Rng(9);
        var tokens = Enumerable.Range(0, steps * batch).Select(_ => rng.NextInt(v)).ToArray(); // [T, B]
        var (whole, final) = model.Infer(Tensor.Create(tokens, [steps, batch]));
        var expected = whole.ToArray();

        // Prefill the first 3 steps (every position), then one NextLogits per step, carrying the state.
        var state = model.InitialState(batch);
        var prefilled = new double[3 * batch * v];
        model.Prefill(tokens.AsSpan(0, 3 * batch), ref state, prefilled);
        TestData.AssertClose<double>(expected.AsSpan(0, prefilled.Length), prefilled, 1e-13, 1e-12, "prefill");
        var row = new double[batch * v];
        for (int t = 3; t < steps; t++)
        {
            model.NextLogits(tokens.AsSpan(t * batch, batch), ref state, row);
            TestData.AssertClose<double>(expected.AsSpan(t * batch * v, batch * v), row, 1e-13, 1e-12, $"step {t}");
        }
        TestData.AssertClose<double>(final.H.AsReadOnlySpan(), state.H.AsReadOnlySpan(), 1e-13, 1e-12, "h");

        // Prefill asking for the last position only gives the last row.
        var fresh = model.InitialState(batch);
        model.Prefill(tokens, ref fresh, row);
        TestData.AssertClose<double>(expected.AsSpan((steps - 1) * batch * v), row, 1e-13, 1e-12, "last position");
    }

    [Fact]
    public void SelectStatesContinuesTheChosenSequences()
    {
        const int v = 6;
        var model = new RecurrentLanguageModel<double>(RnnType.Lstm, v, 4, 5, numLayers: 2, rng: new Rng(10));
        int[][] prompts = [[1, 2, 3], [4, 0, 5]];
        var state = model.InitialState(2);
        model.Prefill([1, 4, 2, 0, 3, 5], ref state, new double[2 * v]); // time-major [3, 2]
        var selected = model.SelectStates(state, [1, 1, 0]);
        var logits = new double[3 * v];
        model.NextLogits([2, 3, 4], ref selected, logits);
        int[] rows = [1, 1, 0], next = [2, 3, 4];
        for (int i = 0; i < 3; i++)
        {
            int[] sequence = [.. prompts[rows[i]], next[i]];
            var (z, _) = model.Infer(Tensor.Create(sequence, [sequence.Length, 1]));
            TestData.AssertClose<double>(z.AsReadOnlySpan()[^v..], logits.AsSpan(i * v, v), 1e-13, 1e-12, $"selected {i}");
        }
        // the source state is untouched and still usable
        Assert.Equal(2, state.Batch);
        var again = model.SelectStates(state, [0]);
        Assert.Equal(state.H.ToArray().AsSpan(0, 5).ToArray(), again.H.ToArray().AsSpan(0, 5).ToArray());
    }

    [Fact]
    public void BeamSearchOnTheModelReturnsTheBruteForceBest()
    {
        // V = 3, maxLength = 3: 27 sequences at most; W = 27 prunes nothing. Scores computed through Infer on each whole sequence.
        const int v = 3, end = 2, maxLength = 3;
        var model = new RecurrentLanguageModel<double>(RnnType.Gru, v, 4, 4, rng: new Rng(12));
        var init = new Rng(13);
        foreach (var p in model.Parameters()) init.FillUniform<double>(p.Data, -1.5, 1.5);
        int[] prompt = [0, 1];
        var all = new List<(int[] Tokens, double LogP)>();
        void Walk(List<int> tokens)
        {
            for (int t = 0; t < v; t++)
            {
                var next = new List<int>(tokens) { t };
                if (t == end || next.Count == maxLength) all.Add(([.. next], LogP(next)));
                else Walk(next);
            }
        }
        double LogP(List<int> continuation)
        {
            int[] sequence = [.. prompt, .. continuation];
            var z = model.Infer(Tensor.Create(sequence, [sequence.Length, 1])).Logits.ToArray();
            double sum = 0;
            for (int i = prompt.Length; i < sequence.Length; i++) sum += Reference.LogSoftmax(z.AsSpan((i - 1) * v, v).ToArray())[sequence[i]];
            return sum;
        }
        Walk([]);
        var expected = all.OrderByDescending(c => c.LogP / c.Tokens.Length).Take(5).ToList();
        var result = BeamSearch.Run(model, prompt, beamWidth: 27, maxLength, end, lengthPenalty: 1, numReturnSequences: 5);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(expected[i].Tokens, result[i].Tokens);
            Assert.Equal(expected[i].LogP, result[i].LogProbability, 11);
        }
    }

    [Fact]
    public void DecodingMayRunOnSeveralThreadsAtOnce()
    {
        var model = new RecurrentLanguageModel<float>(RnnType.Lstm, 20, 8, 16, numLayers: 2, rng: new Rng(14));
        var prompts = Enumerable.Range(0, 8).Select(i => new[] { i, (i * 7) % 20, 3 }).ToArray();
        var sequential = prompts.Select(p => Generation.Greedy(model, p, 30)).ToArray();
        var parallel = new int[prompts.Length][];
        Parallel.For(0, prompts.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = Generation.Greedy(model, prompts[i], 30));
        Assert.Equal(sequential, parallel);
    }

    // ---- training: truncated BPTT, dropout, misuse, allocation ----

    [Fact]
    public void CarryingTheStateAcrossChunksEqualsOneLongSequence()
    {
        const int v = 8;
        var model = new RecurrentLanguageModel<double>(RnnType.Lstm, v, 5, 5, numLayers: 2, rng: new Rng(15));
        var rng = new Rng(16);
        var tokens = Enumerable.Range(0, 10 * 2).Select(_ => rng.NextInt(v)).ToArray(); // [10, 2]
        var whole = model.Infer(Tensor.Create(tokens, [10, 2])).Logits.ToArray();
        var (first, state) = model.Forward(Tensor.Create(tokens[..12], [6, 2]));
        TestData.AssertClose<double>(whole.AsSpan(0, 6 * 2 * v), first.AsReadOnlySpan(), 1e-13, 1e-12, "chunk 1");
        var (second, _) = model.Forward(Tensor.Create(tokens[12..], [4, 2]), state); // the module-owned state passed straight back
        TestData.AssertClose<double>(whole.AsSpan(6 * 2 * v), second.AsReadOnlySpan(), 1e-13, 1e-12, "chunk 2");
    }

    [Fact]
    public void DropoutActsInTrainingModeOnly()
    {
        var model = new RecurrentLanguageModel<double>(RnnType.Lstm, 8, 6, 6, numLayers: 2, dropout: 0.5, embeddingDropout: 0.5, rng: new Rng(17));
        var tokens = Tensor.Create(new[] { 1, 2, 3, 4, 5, 6 }, [3, 2]);
        var inferred = model.Infer(tokens).Logits.ToArray();
        var trained = model.Forward(tokens).Logits.ToArray();
        Assert.True(inferred.Zip(trained).Max(p => Math.Abs(p.First - p.Second)) > 1e-3);
        model.Eval();
        TestData.AssertClose<double>(inferred, model.Forward(tokens).Logits.AsReadOnlySpan(), 1e-14, 0, "eval forward");
        model.Train();
        // The same seeds give the same masks.
        model.DropoutRng = new Rng(1); model.Rnn.DropoutRng = new Rng(2);
        var a = model.Forward(tokens).Logits.ToArray();
        model.DropoutRng = new Rng(1); model.Rnn.DropoutRng = new Rng(2);
        Assert.Equal(a, model.Forward(tokens).Logits.ToArray());
    }

    [Fact]
    public void MisuseOfTheTrainingPairIsRefused()
    {
        var model = new RecurrentLanguageModel<float>(RnnType.Gru, 5, 3, 3);
        var tokens = Tensor.Create(new[] { 1, 2, 3, 4 }, [2, 2]);
        var e = Assert.Throws<InvalidOperationException>(() => model.Backward(Tensor.Create(new float[2 * 2 * 5], [2, 2, 5])));
        Assert.Contains("before Forward", e.Message);
        var (logits, _) = model.Forward(tokens);
        var wrong = Assert.Throws<ArgumentException>(() => model.Backward(Tensor.Create(new float[2 * 2 * 4], [2, 2, 4])));
        Assert.Equal("dLogits", wrong.ParamName);
        Assert.Contains("[2, 2, 5]", wrong.Message);
        model.Backward(Tensor.Create(new float[logits.FlattenedLength], logits.Lengths)); // a failed check left the forward usable
        Assert.Contains("twice", Assert.Throws<InvalidOperationException>(() => model.Backward(Tensor.Create(new float[20], [2, 2, 5]))).Message);
        Assert.Throws<ArgumentOutOfRangeException>("tokens", () => model.Forward(Tensor.Create(new[] { 1, 5 }, [1, 2])));
        Assert.Contains("after a Forward that threw", Assert.Throws<InvalidOperationException>(() => model.Backward(Tensor.Create(new float[20], [2, 2, 5]))).Message);
    }

    [Fact]
    public void ATrainingStepAllocatesNothingAfterWarmUp()
    {
        var model = new RecurrentLanguageModel<float>(RnnType.Lstm, 30, 16, 16, numLayers: 2, dropout: 0.2, tieWeights: true, embeddingDropout: 0.1, rng: new Rng(18));
        var rng = new Rng(19);
        var tokens = Tensor.Create(Enumerable.Range(0, 8 * 4).Select(_ => rng.NextInt(30)).ToArray(), [8, 4]);
        var dLogits = TestData.Tensor<float>(rng, 8, 4, 30);
        RecurrentLanguageModelState<float>? state = null;
        long step = Allocations.SteadyStateBytes(() =>
        {
            model.ZeroGrad();
            (_, state) = model.Forward(tokens, state);
            model.Backward(dLogits);
        });
        Assert.Equal(0, step);
    }

    // ---- bad input ----

    [Fact]
    public void BadConstructorArgumentsAreRefused()
    {
        var tie = Assert.Throws<ArgumentException>(() => new RecurrentLanguageModel<float>(RnnType.Lstm, 10, 4, 6, tieWeights: true));
        Assert.Equal("tieWeights", tie.ParamName);
        Assert.Contains("embeddingSize 4", tie.Message);
        Assert.Contains("hiddenSize 6", tie.Message);
        Assert.Throws<ArgumentOutOfRangeException>("dropout", () => new RecurrentLanguageModel<float>(RnnType.Lstm, 10, 4, 6, dropout: 1));
        Assert.Throws<ArgumentOutOfRangeException>("embeddingDropout", () => new RecurrentLanguageModel<float>(RnnType.Lstm, 10, 4, 6, embeddingDropout: -0.1));
        Assert.Throws<ArgumentOutOfRangeException>("vocabularySize", () => new RecurrentLanguageModel<float>(RnnType.Lstm, 0, 4, 6));
        Assert.Throws<ArgumentOutOfRangeException>("numLayers", () => new RecurrentLanguageModel<float>(RnnType.Lstm, 3, 4, 6, numLayers: 0));
        Assert.Throws<ArgumentOutOfRangeException>("rnnType", () => new RecurrentLanguageModel<float>((RnnType)9, 3, 4, 6));
    }

    [Fact]
    public void BadTokensAndStatesAreRefused()
    {
        var model = new RecurrentLanguageModel<float>(RnnType.Lstm, 5, 3, 4, numLayers: 2);
        var shape = Assert.Throws<ArgumentException>(() => model.Infer(Tensor.Create(new[] { 1, 2 }, [2])));
        Assert.Equal("tokens", shape.ParamName);
        Assert.Contains("[T, B]", shape.Message);
        var range = Assert.Throws<ArgumentOutOfRangeException>(() => model.Infer(Tensor.Create(new[] { 1, 7 }, [2, 1])));
        Assert.Equal("tokens", range.ParamName);
        Assert.Contains("tokens[1] = 7", range.Message);

        var tokens = Tensor.Create(new[] { 1, 2 }, [1, 2]);
        var wrongBatch = model.InitialState(3);
        var e = Assert.Throws<ArgumentException>(() => model.Infer(tokens, wrongBatch));
        Assert.Equal("state", e.ParamName);
        Assert.Contains("[2, 2, 4]", e.Message);
        Assert.Throws<ArgumentException>("state", () => model.Forward(tokens, new RecurrentLanguageModelState<float>(model.InitialState(2).H, null)));
        var gru = new RecurrentLanguageModel<float>(RnnType.Gru, 5, 3, 4);
        Assert.Throws<ArgumentException>("state", () => gru.Infer(tokens, new RecurrentLanguageModelState<float>(gru.InitialState(2).H, gru.InitialState(2).H)));

        var state = model.InitialState(2);
        Assert.Throws<ArgumentException>("tokens", () => model.NextLogits([1], ref state, new float[10]));
        Assert.Throws<ArgumentException>("logits", () => model.NextLogits([1, 2], ref state, new float[9]));
        Assert.Throws<ArgumentException>("tokens", () => model.Prefill([1, 2, 3], ref state, new float[10]));
        var logits = Assert.Throws<ArgumentException>(() => model.Prefill([1, 2, 3, 4], ref state, new float[7]));
        Assert.Equal("logits", logits.ParamName);
        Assert.Contains("[2, 2, 5]", logits.Message);
        Assert.Throws<ArgumentOutOfRangeException>("tokens", () => model.NextLogits([1, 5], ref state, new float[10]));
        Assert.Throws<ArgumentOutOfRangeException>("rows", () => model.SelectStates(state, [0, 2]));
        Assert.Throws<ArgumentException>("rows", () => model.SelectStates(state, []));
        Assert.Throws<ArgumentOutOfRangeException>("batch", () => model.InitialState(0));
    }
}
