namespace NeuralPrimitives.Tests.Optim;

// Behaviour the fixtures do not pin down: which parameters take part in a step, ZeroGrad, group handling, every bad
// argument (ArgumentException naming the argument with the expected and the actual value), and state-dict mismatches.
public class OptimizerTests
{
    private static Parameter<double> Dense(string name, params double[] grad)
    {
        var p = new Parameter<double>(name, grad.Length);
        for (int i = 0; i < grad.Length; i++) { p.Data[i] = i + 1; p.Grad[i] = grad[i]; }
        return p;
    }

    private static Parameter<double> SparseTable(int rows = 4, int d = 2)
    {
        var p = new Parameter<double>("weight", rows, d);
        p.UseSparseGrad();
        return p;
    }

    [Fact]
    public void FrozenParametersAndParametersWithoutAGradientAreSkipped()
    {
        var trained = Dense("a", 1, -1);
        var frozen = Dense("b", 1, 1);
        frozen.RequiresGrad = false;
        var untouched = new Parameter<double>("c", 3); // no Backward reached it: no Grad buffer (PyTorch: grad None)
        var opt = new AdamW<double>([trained, frozen, untouched], lr: 0.1);
        opt.Step();
        Assert.NotEqual([1.0, 2.0], trained.Data);
        Assert.Equal([1.0, 2.0], frozen.Data);
        Assert.Equal([0.0, 0.0, 0.0], untouched.Data); // not even decayed
        Assert.False(untouched.HasDenseGrad);           // and no buffer was allocated for it
        Assert.Equal(["state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq"], opt.StateDict().Tensors.Keys);
    }

    [Fact]
    public void ZeroGradClearsDenseAndSparseGradientsWithoutAllocating()
    {
        var dense = Dense("a", 1, 2, 3);
        var table = SparseTable();
        table.SparseGrad!.Row(2)[0] = 5;
        var opt = new Sgd<double>([dense, table], lr: 0.1);
        opt.ZeroGrad();
        Assert.Equal([0.0, 0.0, 0.0], dense.Grad);
        Assert.Equal(0, table.SparseGrad.Count);
        Assert.Equal(0, Allocations.SteadyStateBytes(opt.ZeroGrad));
    }

    [Fact]
    public void PlainSgdIsThetaMinusLrTimesGradient()
    {
        var p = Dense("a", 0.5, -2);
        new Sgd<double>([p], lr: 0.1).Step();
        Assert.Equal([1 - 0.1 * 0.5, 2 + 0.1 * 2], p.Data);
    }

    [Fact]
    public void SparseSgdUpdatesOnlyTouchedRowsAndNeverTheDenseGradient()
    {
        var table = SparseTable();
        table.Data.AsSpan().Fill(1);
        var row = table.SparseGrad!.Row(1);
        row[0] = 2;
        row[1] = -4;
        new Sgd<double>([table], lr: 0.5).Step();
        Assert.Equal([1.0, 1, 0, 3, 1, 1, 1, 1], table.Data);
        Assert.False(table.HasDenseGrad);
    }

    // PyTorch's AdamW decays by (1 − γλ) with the lr of the step, so a schedule's lr changes the decay too.
    [Fact]
    public void AdamWDecayUsesTheCurrentLearningRate()
    {
        var p = Dense("a", 0);
        var opt = new AdamW<double>([p], lr: 0.1, weightDecay: 0.5);
        opt.Step();
        Assert.Equal(1 * (1 - 0.1 * 0.5), p.Data[0], 15); // zero gradient: only the decay moves θ
        opt.ParamGroups[0].Lr = 0.2;
        opt.Step();
        Assert.Equal(0.95 * (1 - 0.2 * 0.5), p.Data[0], 15);
        opt.ParamGroups[0].Lr = 0; // a schedule may reach 0: nothing moves
        opt.Step();
        Assert.Equal(0.95 * 0.9, p.Data[0], 15);
    }

    [Fact]
    public void GroupsTakeTheOptimisersDefaultsForWhatTheyDoNotSet()
    {
        var a = Dense("a", 1);
        var b = Dense("b", 1);
        var opt = new AdamW<double>([new ParamGroup<double>([a]) { WeightDecay = 0 }, new ParamGroup<double>([b]) { Lr = 0.5 }], lr: 0.01, betas: (0.8, 0.9));
        var g0 = opt.ParamGroups[0];
        var g1 = opt.ParamGroups[1];
        Assert.Equal((0.01, 0.0, (0.8, 0.9), 1e-8, false), (g0.Lr!.Value, g0.WeightDecay!.Value, g0.Betas!.Value, g0.Eps!.Value, g0.Amsgrad!.Value));
        Assert.Equal((0.5, 0.01), (g1.Lr!.Value, g1.WeightDecay!.Value));
        Assert.Null(g0.Momentum);
        Assert.Same(a, g0.Parameters.Single());
    }

    // ---- bad input -------------------------------------------------------------------------------------------------

    [Fact]
    public void HyperparametersOutOfRangeNameTheArgument()
    {
        Parameter<double>[] ps = [Dense("a", 1)];
        LrSchedulerTests.AssertBad(() => new Sgd<double>(ps, lr: 0), "lr", "got 0");
        LrSchedulerTests.AssertBad(() => new Sgd<double>(ps, lr: -0.1), "lr", "(0, ∞)");
        LrSchedulerTests.AssertBad(() => new Adam<double>(ps, lr: double.NaN), "lr", "got NaN");
        LrSchedulerTests.AssertBad(() => new AdamW<double>(ps, lr: double.PositiveInfinity), "lr", "Infinity");
        LrSchedulerTests.AssertBad(() => new Adam<double>(ps, betas: (1.0, 0.999)), "betas", "[0, 1), got 1");
        LrSchedulerTests.AssertBad(() => new AdamW<double>(ps, betas: (0.9, -0.1)), "betas", "got -0.1");
        LrSchedulerTests.AssertBad(() => new Adam<double>(ps, eps: 0), "eps", "(0, ∞), got 0");
        LrSchedulerTests.AssertBad(() => new RmsProp<double>(ps, eps: -1e-8), "eps", "got -1E-08");
        LrSchedulerTests.AssertBad(() => new Adagrad<double>(ps, eps: 0), "eps", "got 0");
        LrSchedulerTests.AssertBad(() => new AdamW<double>(ps, weightDecay: -0.01), "weightDecay", "[0, ∞), got -0.01");
        LrSchedulerTests.AssertBad(() => new Sgd<double>(ps, lr: 0.1, momentum: -0.9), "momentum", "got -0.9");
        LrSchedulerTests.AssertBad(() => new RmsProp<double>(ps, momentum: -1), "momentum", "got -1");
        LrSchedulerTests.AssertBad(() => new Sgd<double>(ps, lr: 0.1, momentum: 0.9, dampening: 2), "dampening", "[0, 1], got 2");
        LrSchedulerTests.AssertBad(() => new RmsProp<double>(ps, alpha: 1.5), "alpha", "got 1.5");
        LrSchedulerTests.AssertBad(() => new Adagrad<double>(ps, lrDecay: -1), "lrDecay", "got -1");
        LrSchedulerTests.AssertBad(() => new Adagrad<double>(ps, initialAccumulatorValue: -1), "initialAccumulatorValue", "got -1");
    }

    [Fact]
    public void NesterovNeedsMomentumAndNoDampening()
    {
        Parameter<double>[] ps = [Dense("a", 1)];
        LrSchedulerTests.AssertBad(() => new Sgd<double>(ps, lr: 0.1, nesterov: true), "nesterov", "got momentum 0, dampening 0");
        LrSchedulerTests.AssertBad(() => new Sgd<double>(ps, lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true), "nesterov", "dampening 0.1");
        LrSchedulerTests.AssertBad(() => new Sgd<double>([new ParamGroup<double>(ps) { Nesterov = true }], lr: 0.1), "paramGroups", "paramGroups[0]: Nesterov");
        // Changing a group into the invalid combination later is caught at the next step.
        var opt = new Sgd<double>(ps, lr: 0.1, momentum: 0.9, nesterov: true);
        opt.ParamGroups[0].Dampening = 0.5;
        var e = Assert.Throws<InvalidOperationException>(opt.Step);
        Assert.Contains("ParamGroups[0]: Nesterov", e.Message);
    }

    [Fact]
    public void AParameterGivenTwiceIsRefused()
    {
        var a = Dense("a", 1);
        var b = Dense("b", 1);
        LrSchedulerTests.AssertBad(() => new AdamW<double>([a, b, a]), "parameters", "at parameters[0] and at parameters[2]");
        LrSchedulerTests.AssertBad(() => new Sgd<double>([new ParamGroup<double>([a]), new ParamGroup<double>([b, a])], lr: 0.1),
            "paramGroups", "at paramGroups[0].Parameters[0] and at paramGroups[1].Parameters[1]");
        // A tied weight listed by two modules is one parameter: Module.Parameters() yields it once, which is what to pass.
    }

    [Fact]
    public void EmptyOrNullParameterListsAreRefused()
    {
        LrSchedulerTests.AssertBad(() => new Adam<double>(Array.Empty<Parameter<double>>()), "parameters", "got an empty list");
        LrSchedulerTests.AssertBad(() => new Adam<double>(Array.Empty<ParamGroup<double>>()), "paramGroups", "got none");
        LrSchedulerTests.AssertBad(() => new Adam<double>([new ParamGroup<double>([]), new ParamGroup<double>([])]), "paramGroups", "got an empty list");
        LrSchedulerTests.AssertBad(() => new Adam<double>([Dense("a", 1), null!]), "parameters", "parameters[1] is null");
        Assert.Throws<ArgumentNullException>("parameters", () => new Sgd<double>((IEnumerable<Parameter<double>>)null!, lr: 0.1));
        // An empty group next to a non-empty one is fine (PyTorch allows it).
        _ = new Adam<double>([new ParamGroup<double>([Dense("a", 1)]), new ParamGroup<double>([])]);
    }

    [Fact]
    public void GroupHyperparametersAreCheckedWhenSetAndAgainstTheOptimiser()
    {
        var g = new ParamGroup<double>([Dense("a", 1)]);
        LrSchedulerTests.AssertBad(() => g.Lr = -1, "Lr", "got -1");
        LrSchedulerTests.AssertBad(() => g.Lr = double.NaN, "Lr", "got NaN");
        LrSchedulerTests.AssertBad(() => g.Betas = (0.9, 1.0), "Betas", "Betas.Beta2 must be a finite number in [0, 1), got 1");
        LrSchedulerTests.AssertBad(() => g.Eps = 0, "Eps", "got 0");
        LrSchedulerTests.AssertBad(() => g.WeightDecay = -1, "WeightDecay", "got -1");
        LrSchedulerTests.AssertBad(() => new Adam<double>([new ParamGroup<double>([Dense("a", 1)]) { Momentum = 0.9 }]), "paramGroups", "Momentum is set, but Adam has no such hyperparameter");
        LrSchedulerTests.AssertBad(() => new Sgd<double>([new ParamGroup<double>([Dense("a", 1)]) { Betas = (0.9, 0.99) }], lr: 1), "paramGroups", "Sgd has no such hyperparameter");
        LrSchedulerTests.AssertBad(() => new Adam<double>([new ParamGroup<double>([Dense("a", 1)]) { Lr = 0 }]), "paramGroups", "paramGroups[0].Lr must be a finite number in (0, ∞), got 0");

        var opt = new Adam<double>([Dense("a", 1)]);
        opt.ParamGroups[0].Eps = null;
        Assert.Contains("ParamGroups[0].Eps is null", Assert.Throws<InvalidOperationException>(opt.Step).Message);
    }

    [Fact]
    public void RowSparseGradientsAreRefusedWhereUnsupported()
    {
        LrSchedulerTests.AssertBad(() => new RmsProp<double>([SparseTable()]), "parameters", "RmsProp does not support row-sparse gradients");
        LrSchedulerTests.AssertBad(() => new Adam<double>([SparseTable()], amsgrad: true), "parameters", "AMSGrad is not supported with row-sparse");
        // A parameter switched to sparse after construction is caught at Step, never read through Grad.
        var p = new Parameter<double>("weight", 3, 2);
        var opt = new RmsProp<double>([p]);
        p.UseSparseGrad();
        p.SparseGrad!.Row(0)[0] = 1;
        Assert.Contains("row-sparse", Assert.Throws<InvalidOperationException>(opt.Step).Message);
    }

    // ---- state dict mismatches ---------------------------------------------------------------------------------------

    private static (AdamW<double> Opt, OptimizerStateDict<double> State) SteppedAdamW()
    {
        var opt = new AdamW<double>([new ParamGroup<double>([Dense("a", 1, 2, 3)]), new ParamGroup<double>([Dense("b", 4)])], amsgrad: true);
        opt.Step();
        return (opt, OptimizerFixtureTests.DeepCopy(opt.StateDict()));
    }

    private static void AssertLoadFails(Action<OptimizerStateDict<double>> corrupt, string paramName, params string[] inMessage)
    {
        var (opt, state) = SteppedAdamW();
        corrupt(state);
        var before = OptimizerFixtureTests.DeepCopy(opt.StateDict());
        var e = Assert.Throws<ArgumentException>(() => opt.LoadStateDict(state));
        Assert.Equal(paramName, e.ParamName);
        foreach (var s in inMessage) Assert.Contains(s, e.Message);
        // Nothing was applied.
        var after = opt.StateDict();
        Assert.Equal(before.Metadata, after.Metadata);
        foreach (var (key, t) in before.Tensors) Assert.Equal(t.ToArray(), after.Tensors[key].ToArray());
    }

    [Fact]
    public void LoadingAMismatchedStateNamesEveryProblemAndChangesNothing()
    {
        AssertLoadFails(s => s.Metadata["optimizer"] = "Adam", "metadata", "'optimizer' is 'Adam', expected 'AdamW'");
        AssertLoadFails(s => s.Metadata.Remove("param_groups.1.params"), "metadata", "the state has 1 parameter group(s)", "has 2");
        AssertLoadFails(s => s.Metadata["param_groups.1.params"] = "[1,2]", "metadata", "'param_groups.1.params' lists 2 parameter(s), expected 1");
        AssertLoadFails(s => s.Metadata["param_groups.0.lr"] = "-1", "metadata", "'param_groups.0.lr' must be a finite number in [0, ∞), got -1");
        AssertLoadFails(s => s.Metadata["param_groups.0.betas"] = "[0.9,1.5]", "metadata", "'param_groups.0.betas' (β2)", "got 1.5");
        AssertLoadFails(s => s.Metadata["param_groups.1.amsgrad"] = "yes", "metadata", "'param_groups.1.amsgrad' is 'yes'");
        AssertLoadFails(s => s.Metadata.Remove("param_groups.1.eps"), "metadata", "missing 'param_groups.1.eps'");
        AssertLoadFails(s => s.Tensors["state.0.exp_avg"] = Tensor.Create(new double[4], [4]), "tensors", "'state.0.exp_avg' has shape [4], expected [3] (parameter 0: 'a [3]')");
        AssertLoadFails(s => s.Tensors.Remove("state.1.max_exp_avg_sq"), "tensors", "missing key(s) state.1.max_exp_avg_sq");
        AssertLoadFails(s => s.Tensors.Remove("state.0.step"), "tensors", "missing key(s) state.0.step");
        AssertLoadFails(s => s.Tensors.Add("state.2.exp_avg", Tensor.Create(new double[1], [1])), "tensors", "unexpected key(s) state.2.exp_avg");
        AssertLoadFails(s => s.Tensors.Add("state.0.momentum_buffer", Tensor.Create(new double[3], [3])), "tensors", "unexpected key(s) state.0.momentum_buffer");
        AssertLoadFails(s => s.Tensors["state.1.step"] = Tensor.Create([2.5], [1]), "tensors", "'state.1.step' is 2.5, expected a whole number ≥ 0");
    }

    [Fact]
    public void LoadingAStateWithoutAParametersEntryStartsThatParameterAfresh()
    {
        var (opt, state) = SteppedAdamW();
        foreach (var key in state.Tensors.Keys.Where(k => k.StartsWith("state.1.", StringComparison.Ordinal)).ToList()) state.Tensors.Remove(key);
        opt.LoadStateDict(state);
        Assert.DoesNotContain(opt.StateDict().Tensors.Keys, k => k.StartsWith("state.1.", StringComparison.Ordinal));
    }
}
