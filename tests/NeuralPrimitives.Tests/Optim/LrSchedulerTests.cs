using System.Text.Json;

namespace NeuralPrimitives.Tests.Optim;

// Learning-rate sequences against PyTorch 1.13 (tests/reference/fixtures_optim.py, optim_schedules): the lr of every
// group after construction and after each Step (≥ 30 steps; OneCycleLR over its whole cycle, with its momentum or β1),
// and nanoGPT's get_lr formula for WarmupCosineLR.
public class LrSchedulerTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Fixture.Load("optim_schedules").Meta.GetProperty("cases").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    internal static Optimizer<double> Optimizer(string kind, double[] lrs, double momentum = 0)
    {
        var groups = lrs.Select((lr, i) => new ParamGroup<double>([new Parameter<double>($"p{i}", 1)]) { Lr = lr }).ToArray();
        return kind switch
        {
            "SGD" => new Sgd<double>(groups, lrs[0], momentum: momentum),
            "Adam" => new Adam<double>(groups, lrs[0]),
            "Adagrad" => new Adagrad<double>(groups, lrs[0]),
            _ => throw new NotSupportedException(kind),
        };
    }

    private static LrScheduler Schedule(JsonElement c, IOptimizer opt)
    {
        double D(string k) => c.GetProperty(k).GetDouble();
        int I(string k) => c.GetProperty(k).GetInt32();
        return c.GetProperty("kind").GetString() switch
        {
            "StepLR" => new StepLR(opt, I("step_size"), D("gamma")),
            "ExponentialLR" => new ExponentialLR(opt, D("gamma")),
            "CosineAnnealingLR" => new CosineAnnealingLR(opt, I("T_max"), D("eta_min")),
            "LinearLR" => new LinearLR(opt, D("start_factor"), D("end_factor"), I("total_iters")),
            "OneCycleLR" => new OneCycleLR(opt, c.GetProperty("max_lr").EnumerateArray().Select(v => v.GetDouble()).ToArray(), I("total_steps"),
                D("pct_start"), c.GetProperty("anneal_strategy").GetString() == "cos" ? AnnealStrategy.Cos : AnnealStrategy.Linear,
                c.GetProperty("cycle_momentum").GetBoolean(), D("base_momentum"), D("max_momentum"), D("div_factor"), D("final_div_factor"),
                c.GetProperty("three_phase").GetBoolean()),
            "WarmupCosineLR" => new WarmupCosineLR(opt, I("warmup_iters"), I("lr_decay_iters"), D("min_lr")),
            var k => throw new NotSupportedException(k),
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LearningRatesEqualPyTorch(string @case)
    {
        var f = Fixture.Load("optim_schedules");
        var c = f.Meta.GetProperty("cases").GetProperty(@case);
        var lrs = c.GetProperty("lrs").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        double momentum = c.TryGetProperty("optimizer_kwargs", out var kw) && kw.TryGetProperty("momentum", out var m) ? m.GetDouble() : 0;
        var opt = Optimizer(c.TryGetProperty("optimizer", out var o) ? o.GetString()! : "SGD", lrs, momentum);
        int steps = c.GetProperty("steps").GetInt32(), groups = lrs.Length;
        Assert.True(steps >= 29, "each schedule is checked over at least 30 learning rates");
        var expected = f.Data($"{@case}.lr");
        string? momentumKey = f.Has($"{@case}.momentum") ? "momentum" : f.Has($"{@case}.beta1") ? "beta1" : null;

        var schedule = Schedule(c, opt);
        for (int e = 0; e <= steps; e++)
        {
            if (e > 0)
            {
                opt.Step();
                schedule.Step();
            }
            Assert.Equal(e, schedule.LastEpoch);
            var row = expected.AsSpan(e * groups, groups);
            TestData.AssertClose<double>(row, schedule.LastLr.ToArray(), 0, 1e-15, $"{@case} lr at epoch {e}");
            TestData.AssertClose<double>(row, opt.ParamGroups.Select(g => g.Lr!.Value).ToArray(), 0, 1e-15, $"{@case} group lr at epoch {e}");
            if (momentumKey is null) continue;
            var moms = opt.ParamGroups.Select(g => momentumKey == "momentum" ? g.Momentum!.Value : g.Betas!.Value.Beta1).ToArray();
            TestData.AssertClose<double>(f.Data($"{@case}.{momentumKey}").AsSpan(e * groups, groups), moms, 0, 1e-15, $"{@case} {momentumKey} at epoch {e}");
        }
    }

    [Fact]
    public void ConstructionSetsInitialLrOnceAndTheEpochZeroRate()
    {
        var opt = Optimizer("SGD", [0.1, 0.02]);
        var warmup = new LinearLR(opt, startFactor: 0.5, totalIters: 4);
        Assert.Equal([0.05, 0.01], opt.ParamGroups.Select(g => g.Lr!.Value));
        Assert.Equal([0.1, 0.02], opt.ParamGroups.Select(g => g.InitialLr!.Value));
        Assert.Equal([0.1, 0.02], warmup.BaseLrs);
        Assert.Equal(1, warmup.StepCount);
        // A second schedule keeps the InitialLr the first one set (PyTorch's setdefault) and chains on the current lr.
        var decay = new ExponentialLR(opt, gamma: 0.5);
        Assert.Equal([0.1, 0.02], decay.BaseLrs);
        Assert.Equal([0.05, 0.01], decay.LastLr);
    }

    [Fact]
    public void ChainedSchedulesCompose()
    {
        // LinearLR's factor ratio times ExponentialLR's γ each step: lr_e = base · factor(e) · γ^e.
        var opt = Optimizer("SGD", [1.0]);
        var warmup = new LinearLR(opt, startFactor: 0.25, endFactor: 1, totalIters: 3);
        var decay = new ExponentialLR(opt, gamma: 0.9);
        for (int e = 1; e <= 6; e++)
        {
            warmup.Step();
            decay.Step();
            double factor = 0.25 + 0.75 * Math.Min(e, 3) / 3;
            Assert.Equal(factor * Math.Pow(0.9, e), opt.ParamGroups[0].Lr!.Value, 14);
        }
    }

    [Fact]
    public void CosineAnnealingRecursiveFormStaysNearTheClosedForm()
    {
        var opt = Optimizer("SGD", [0.1]);
        var cosine = new CosineAnnealingLR(opt, tMax: 10, etaMin: 0.001);
        for (int e = 1; e <= 40; e++)
        {
            cosine.Step();
            double closed = 0.001 + (0.1 - 0.001) * (1 + Math.Cos(Math.PI * e / 10)) / 2;
            Assert.Equal(closed, cosine.LastLr[0], 12);
        }
    }

    [Fact]
    public void OneCycleRefusesToStepPastItsCycle()
    {
        var opt = Optimizer("SGD", [0.1], momentum: 0.9);
        var cycle = new OneCycleLR(opt, maxLr: 1.0, totalSteps: 5);
        for (int i = 0; i < 5; i++) cycle.Step(); // epochs 1..5 (PyTorch allows epoch = total_steps)
        var e = Assert.Throws<InvalidOperationException>(() => cycle.Step());
        Assert.Contains("totalSteps = 5", e.Message);
        Assert.Equal(5, cycle.LastEpoch);
    }

    [Fact]
    public void OneCycleOnAnOptimiserWithoutMomentumNeedsCycleMomentumOff()
    {
        var opt = Optimizer("Adagrad", [0.1]);
        var e = Assert.Throws<ArgumentException>(() => new OneCycleLR(opt, maxLr: 1.0, totalSteps: 10));
        Assert.Equal("cycleMomentum", e.ParamName);
        _ = new OneCycleLR(opt, maxLr: 1.0, totalSteps: 10, cycleMomentum: false);
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        var opt = Optimizer("SGD", [0.1], momentum: 0.9);
        AssertBad(() => new StepLR(opt, 0), "stepSize", "0");
        AssertBad(() => new StepLR(opt, 3, gamma: double.NaN), "gamma", "NaN");
        AssertBad(() => new ExponentialLR(opt, -0.5), "gamma", "-0.5");
        AssertBad(() => new CosineAnnealingLR(opt, 0), "tMax", "0");
        AssertBad(() => new CosineAnnealingLR(opt, 5, etaMin: -1), "etaMin", "-1");
        AssertBad(() => new LinearLR(opt, startFactor: 0), "startFactor", "0");
        AssertBad(() => new LinearLR(opt, endFactor: 1.5), "endFactor", "1.5");
        AssertBad(() => new LinearLR(opt, totalIters: 0), "totalIters", "0");
        AssertBad(() => new OneCycleLR(opt, maxLr: 0, totalSteps: 10), "maxLr", "0");
        AssertBad(() => new OneCycleLR(opt, maxLr: [0.1, 0.2], totalSteps: 10), "maxLr", "got 2");
        AssertBad(() => new OneCycleLR(opt, maxLr: 0.1, totalSteps: 0), "totalSteps", "0");
        AssertBad(() => new OneCycleLR(opt, maxLr: 0.1, totalSteps: 10, pctStart: 1.5), "pctStart", "1.5");
        AssertBad(() => new OneCycleLR(opt, maxLr: 0.1, totalSteps: 10, pctStart: 0.1), "pctStart", "zero length");
        AssertBad(() => new OneCycleLR(opt, maxLr: 0.1, totalSteps: 10, divFactor: 0), "divFactor", "0");
        AssertBad(() => new OneCycleLR(opt, maxLr: 0.1, totalSteps: 10, maxMomentum: 1), "maxMomentum", "1");
        AssertBad(() => new WarmupCosineLR(opt, warmupIters: -1, lrDecayIters: 5, minLr: 0), "warmupIters", "-1");
        AssertBad(() => new WarmupCosineLR(opt, warmupIters: 5, lrDecayIters: 5, minLr: 0), "lrDecayIters", "5");
        AssertBad(() => new WarmupCosineLR(opt, warmupIters: 1, lrDecayIters: 5, minLr: double.PositiveInfinity), "minLr", "Infinity");
    }

    internal static void AssertBad(Func<object> create, string paramName, string inMessage)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => create());
        Assert.Equal(paramName, e.ParamName);
        Assert.Contains(inMessage, e.Message);
    }

    [Fact]
    public void StateDictResumesTheSchedule()
    {
        var opt = Optimizer("SGD", [0.1]);
        var straight = new CosineAnnealingLR(opt, tMax: 8, etaMin: 0.01);
        for (int i = 0; i < 5; i++) straight.Step();
        var saved = new Dictionary<string, string>(straight.StateDict());
        double lrAtSave = opt.ParamGroups[0].Lr!.Value;

        var opt2 = Optimizer("SGD", [0.1]);
        var resumed = new CosineAnnealingLR(opt2, tMax: 8, etaMin: 0.01);
        resumed.LoadStateDict(saved);
        opt2.ParamGroups[0].Lr = lrAtSave; // what the optimiser's own state dict restores
        Assert.Equal(5, resumed.LastEpoch);
        for (int i = 0; i < 10; i++)
        {
            straight.Step();
            resumed.Step();
            Assert.Equal(straight.LastLr[0], resumed.LastLr[0]);
        }
        var e = Assert.Throws<ArgumentException>(() => resumed.LoadStateDict(new Dictionary<string, string> { ["last_epoch"] = "3" }));
        Assert.Contains("_step_count", e.Message);
    }

    [Fact]
    public void StepAllocatesNothing()
    {
        var opt = Optimizer("SGD", [0.1, 0.2], momentum: 0.9);
        var cycle = new OneCycleLR(opt, maxLr: 1.0, totalSteps: 1_000_000);
        Assert.Equal(0, Allocations.SteadyStateBytes(cycle.Step));
        var cosine = new CosineAnnealingLR(opt, tMax: 100);
        Assert.Equal(0, Allocations.SteadyStateBytes(cosine.Step));
    }
}
