namespace NeuralPrimitives.Tests.Core;

/// <summary>Containers, registration, tied parameters and the state_dict (issue 9, "Composition").</summary>
public class CompositionTests
{
    private static Tensor<double> Input(int seed, params int[] shape) => TestData.Tensor<double>(new Rng((ulong)seed), shape);

    [Fact]
    public void SequentialRunsForwardInOrderAndBackwardInReverse()
    {
        Rng.ManualSeed(1);
        var l0 = new Linear<double>(4, 5);
        var act = new Tanh<double>();
        var l2 = new Linear<double>(5, 3);
        var seq = new Sequential<double>(l0, act, l2);
        var x = Input(2, 6, 4);

        // Independent twins with the same weights, chained by hand.
        var t0 = new Linear<double>(4, 5); t0.Weight.Load(l0.Weight.Data); t0.Bias!.Load(l0.Bias!.Data);
        var t2 = new Linear<double>(5, 3); t2.Weight.Load(l2.Weight.Data); t2.Bias!.Load(l2.Bias!.Data);
        var tAct = new Tanh<double>();
        var expected = t2.Forward(tAct.Forward(t0.Forward(x))).ToArray();

        var y = seq.Forward(x);
        Assert.Equal(expected, y.ToArray());
        Assert.Equal(expected, seq.Infer(x).ToArray());

        var dy = Input(3, 6, 3);
        var expectedDx = t0.Backward(tAct.Backward(t2.Backward(dy))).ToArray();
        Assert.Equal(expectedDx, seq.Backward(dy).ToArray());
        Assert.Equal(t0.Weight.Grad, l0.Weight.Grad);
        Assert.Equal(t2.Bias.Grad, l2.Bias.Grad);
    }

    [Fact]
    public void SequentialPassesAGradientCheck()
    {
        Rng.ManualSeed(4);
        var seq = new Sequential<double>(new Linear<double>(3, 4), new Gelu<double>(), new Linear<double>(4, 2));
        GradientCheck.Run(seq, Input(5, 2, 3)).EnsurePassed();
    }

    [Fact]
    public void ContainersNameTheirChildrenLikePyTorch()
    {
        var seq = new Sequential<float>(new Linear<float>(2, 3), new Relu<float>(), new Sequential<float>(new Linear<float>(3, 1, bias: false)));
        Assert.Equal(["0.weight", "0.bias", "2.0.weight"], seq.NamedParameters().Select(p => p.Name));
        Assert.Equal(["", "0", "1", "2", "2.0"], seq.NamedModules().Select(m => m.Name));
        Assert.IsType<Relu<float>>(seq[-2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => seq[3]);

        var list = new ModuleList<float>(new Linear<float>(2, 2), new Linear<float>(2, 2));
        list.Add(new Lstm<float>(2, 3));
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "2.weight_ih_l0", "2.weight_hh_l0", "2.bias_ih_l0", "2.bias_hh_l0"],
            list.NamedParameters().Select(p => p.Name));

        var dict = new ModuleDict<float> { ["embed"] = new Embedding<float>(5, 2), ["head"] = new Linear<float>(2, 5) };
        dict["embed"] = new Embedding<float>(7, 2); // replacing keeps the position
        Assert.Equal(["embed.weight", "head.weight", "head.bias"], dict.NamedParameters().Select(p => p.Name));
        Assert.Equal(7, dict.GetParameter("embed.weight").Shape[0]);
        var e = Assert.Throws<KeyNotFoundException>(() => dict["lstm"]);
        Assert.Contains("embed, head", e.Message);
        Assert.Throws<ArgumentException>(() => dict.Add("head", new Linear<float>(1, 1)));
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => dict["a.b"] = new Linear<float>(1, 1)).ParamName);
    }

    [Fact]
    public void SequentialRejectsModulesThatAreNotLayers()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential<float>(new Linear<float>(2, 2), new Embedding<float>(3, 2)));
        Assert.Equal("layers[1]", e.ParamName);
        Assert.Contains("Embedding", e.Message);
    }

    private sealed class Registered : Module<double>
    {
        public readonly Linear<double> Proj;
        public readonly Parameter<double> Scale;
        public readonly Buffer<double> Running;

        public Registered(bool duplicate = false)
        {
            Scale = RegisterParameter("scale", new Parameter<double>("anything", 3));
            Proj = RegisterModule("proj", new Linear<double>(3, 2));
            Running = RegisterBuffer("running_mean", new Buffer<double>(3));
            if (duplicate) RegisterModule("scale", new Linear<double>(1, 1));
        }
    }

    [Fact]
    public void RegisteredParametersBuffersAndModulesAreNamedByTheirRegistration()
    {
        var m = new Registered();
        Assert.Equal(["scale", "proj.weight", "proj.bias"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(["running_mean"], m.NamedBuffers().Select(b => b.Name));
        Assert.Equal(["scale", "proj.weight", "proj.bias", "running_mean"], m.StateDict().Keys);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => new Registered(duplicate: true)).ParamName);
        m.Eval();
        Assert.False(m.Proj.Training);
    }

    [Fact]
    public void StateDictRoundTripsParametersAndBuffersAndIsAView()
    {
        var a = new Registered();
        a.Running.Data[1] = 7;
        var b = new Registered();
        var state = a.StateDict();
        var result = b.LoadStateDict(state);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(a.Proj.Weight.Data, b.Proj.Weight.Data);
        Assert.Equal(a.Scale.Data, b.Scale.Data);
        Assert.Equal(7, b.Running.Data[1]);
        Assert.NotSame(a.Proj.Weight.Data, b.Proj.Weight.Data); // values copied, not shared

        a.Proj.Weight.Data[0] = 42; // the state dict views the live values (PyTorch's semantics)
        Assert.Equal(42, state["proj.weight"].ToArray()[0]);
    }

    [Fact]
    public void LoadStateDictReportsEveryMissingUnexpectedAndMisShapedKeyAndWritesNothing()
    {
        var target = new Registered();
        var before = target.Proj.Weight.Data.ToArray();
        var state = new OrderedDictionary<string, Tensor<double>>
        {
            ["scale"] = Tensor.Create(new double[4], [4]),              // wrong shape
            ["proj.weight"] = Tensor.Create(new double[6], [2, 3]),
            ["proj.bias"] = Tensor.Create(new double[3], [3]),          // wrong shape
            ["extra"] = Tensor.Create(new double[1], [1]),              // unexpected
            // running_mean missing
        };
        var e = Assert.Throws<ArgumentException>(() => target.LoadStateDict(state));
        Assert.Contains("'scale': expected [3], got [4]", e.Message);
        Assert.Contains("'proj.bias': expected [2], got [3]", e.Message);
        Assert.Contains("missing keys: running_mean", e.Message);
        Assert.Contains("unexpected keys: extra", e.Message);
        Assert.Equal(before, target.Proj.Weight.Data);

        // Not strict: the keys are reported, shapes still must match.
        state["scale"] = Tensor.Create(new double[] { 1, 2, 3 }, [3]);
        state["proj.bias"] = Tensor.Create(new double[] { 5, 6 }, [2]);
        var result = target.LoadStateDict(state, strict: false);
        Assert.Equal(["running_mean"], result.MissingKeys);
        Assert.Equal(["extra"], result.UnexpectedKeys);
        Assert.Equal([1.0, 2, 3], target.Scale.Data);
        Assert.Equal([5.0, 6], target.Proj.Bias!.Data);
    }

    [Fact]
    public void LoadStateDictConvertsTheElementType()
    {
        var d = new Linear<double>(3, 2);
        var f = new Linear<float>(3, 2);
        f.LoadStateDict(d.StateDict());
        Assert.Equal(Array.ConvertAll(d.Weight.Data, v => (float)v), f.Weight.Data);
    }

    // An LM head tied to the embedding (GPT-2, nanoGPT): one Parameter<T> shared by two modules.
    private sealed class TiedLm : Module<double>
    {
        public readonly Embedding<double> Embed;
        public readonly Linear<double> Head;

        public TiedLm(bool tie)
        {
            Embed = RegisterModule("embed", new Embedding<double>(6, 4));
            Head = RegisterModule("head", new Linear<double>(4, 6, bias: false));
            if (tie) Head.Weight = Embed.Weight;
        }

        public Tensor<double> Forward(Tensor<int> tokens) => Head.Forward(Embed.Forward(tokens));

        public void Backward(Tensor<double> dLogits) => Embed.Backward(Head.Backward(dLogits));
    }

    [Fact]
    public void ATiedParameterIsListedOnceSavedUnderBothNamesAndAccumulatesBothGradients()
    {
        Rng.ManualSeed(9);
        var tied = new TiedLm(tie: true);
        Assert.Same(tied.Embed.Weight, tied.Head.Weight);
        Assert.Equal(["embed.weight"], tied.NamedParameters().Select(p => p.Name));
        Assert.Single(tied.Parameters());
        Assert.Equal(["embed.weight", "head.weight"], tied.NamedParameters(removeDuplicate: false).Select(p => p.Name));
        Assert.Equal(["embed.weight", "head.weight"], tied.StateDict().Keys);
        Assert.Same(tied.Embed.Weight, tied.GetParameter("head.weight"));

        // The tied gradient is the sum of what the two users contribute: compare with an untied model whose two
        // tables hold the same values.
        var untied = new TiedLm(tie: false);
        untied.Embed.Weight.Load(tied.Embed.Weight.Data);
        untied.Head.Weight.Load(tied.Embed.Weight.Data);
        var tokens = Tensor.Create(new[] { 1, 4, 4, 0, 5 }, [5]);
        var dLogits = Input(10, 5, 6);
        Assert.Equal(untied.Forward(tokens).ToArray(), tied.Forward(tokens).ToArray());
        untied.Backward(dLogits);
        tied.Backward(dLogits);
        var expected = untied.Embed.Weight.Grad.Zip(untied.Head.Weight.Grad, (a, b) => a + b).ToArray();
        TestData.AssertClose<double>(expected, tied.Embed.Weight.Grad, 1e-15, 1e-14, "tied gradient");
        tied.ZeroGrad();
        Assert.All(tied.Embed.Weight.Grad, g => Assert.Equal(0.0, g));

        // Loading fills the shared parameter once, from its first name.
        var state = new OrderedDictionary<string, Tensor<double>>
        {
            ["embed.weight"] = Tensor.Create(Enumerable.Range(0, 24).Select(i => (double)i).ToArray(), [6, 4]),
            ["head.weight"] = Tensor.Create(new double[24], [6, 4]),
        };
        tied.LoadStateDict(state);
        Assert.Equal(23.0, tied.Head.Weight.Data[23]);
    }

    [Fact]
    public void TyingChecksTheShape()
    {
        var head = new Linear<float>(4, 6);
        var e = Assert.Throws<ArgumentException>(() => head.Weight = new Embedding<float>(6, 5).Weight);
        Assert.Equal("value", e.ParamName);
        Assert.Contains("[6, 4]", e.Message);
        Assert.Contains("[6, 5]", e.Message);
    }

    [Fact]
    public void ZeroGradSeesModulesAddedAfterItsFirstCall()
    {
        var list = new ModuleList<float>(new Linear<float>(2, 2));
        list.ZeroGrad();
        var late = new Linear<float>(2, 2);
        list.Add(late);
        Array.Fill(late.Weight.Grad, 1f);
        list.ZeroGrad();
        Assert.All(late.Weight.Grad, g => Assert.Equal(0f, g));
    }

    [Fact]
    public void ASecondBackwardThroughAContainerIsRefused()
    {
        var seq = new Sequential<double>(new Linear<double>(2, 2));
        var x = Input(1, 3, 2);
        var dy = seq.Forward(x).ToArray();
        seq.Backward(Tensor.Create(dy, [3, 2]));
        var e = Assert.Throws<InvalidOperationException>(() => seq.Backward(Tensor.Create(dy, [3, 2])));
        Assert.Contains("Sequential.Backward called twice", e.Message);
    }

    [Fact]
    public void AModuleUsedTwiceInOneStepIsDetected()
    {
        var lin = new Linear<double>(2, 2);
        var x = Input(1, 3, 2);
        var h = lin.Forward(Tensor.Create(lin.Forward(x).ToArray(), [3, 2])); // the second Forward overwrote the first one's cache
        lin.Backward(h);
        Assert.Throws<InvalidOperationException>(() => lin.Backward(h));
    }
}

/// <summary>Opt-in anomaly detection (PyTorch's set_detect_anomaly).</summary>
[Collection(GlobalStateCollection.Name)]
public class AnomalyDetectionTests
{
    [Fact]
    public void TheFirstModuleToProduceANonFiniteValueIsNamed()
    {
        Rng.ManualSeed(3);
        var first = new Linear<double>(2, 3);
        var second = new Linear<double>(3, 1);
        var seq = new Sequential<double>(first, new Tanh<double>(), second);
        first.Weight.Data[4] = double.PositiveInfinity;
        var x = Tensor.Create(new double[] { 1, 1 }, [1, 2]);
        seq.Forward(x); // off by default: no check
        try
        {
            AnomalyDetection.Enabled = true;
            var e = Assert.Throws<NonFiniteValueException>(() => seq.Forward(x));
            Assert.Equal("Linear", e.Module);
            Assert.Equal("output", e.Tensor);
            Assert.Equal("Forward", e.Pass);
            Assert.Equal(2, e.Index); // row 0, output feature 2 reads weight row 2 = elements 4, 5

            // A parameter gradient that overflows in Backward while dInput stays finite.
            var lin = new Linear<double>(2, 1, bias: false);
            Array.Fill(lin.Weight.Data, 0.1);
            lin.Forward(x);
            lin.Weight.Grad[1] = double.MaxValue;
            var g = Assert.Throws<NonFiniteValueException>(() => lin.Backward(Tensor.Create(new[] { double.MaxValue }, [1, 1])));
            Assert.Equal("Backward", g.Pass);
            Assert.Equal("weight.grad", g.Tensor);
            Assert.Equal(1, g.Index);
        }
        finally
        {
            AnomalyDetection.Enabled = false;
        }
    }
}
