using System.Text.Json;

namespace NeuralPrimitives.Tests.Optim;

// Trajectories of every optimiser option against PyTorch 1.13 (tests/reference/fixtures_optim.py): 20 steps in double,
// each parameter after each step within 1e-12. Sparse cases compare with PyTorch's sparse SGD/Adagrad and SparseAdam
// (lazy weight decay emulated there by hand, as documented in the optimisers' headers).
public class OptimizerFixtureTests
{
    private const int Steps = 20;
    private static readonly string[] s_fixtures = ["optim_sgd", "optim_adam", "optim_rmsprop", "optim_adagrad"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in s_fixtures)
            foreach (var c in Fixture.Load(name).Meta.GetProperty("cases").EnumerateObject()) data.Add(name, c.Name);
        return data;
    }

    internal static (OptimProblem<T> Problem, Optimizer<T> Optimizer) Setup<T>(Fixture f, string @case)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var spec = f.Meta.GetProperty("cases").GetProperty(@case);
        var problem = new OptimProblem<T>(f, spec.GetProperty("names").EnumerateArray().Select(n => n.GetString()!));
        return (problem, problem.Build(spec));
    }

    /// <summary>PyTorch's value of parameter <paramref name="name"/> (<paramref name="length"/> values) after step <paramref name="t"/>.</summary>
    private static ReadOnlySpan<double> AfterStep(Fixture f, string @case, string name, int t, int length) =>
        f.Data($"{@case}.{name}").AsSpan((t - 1) * length, length);

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrajectoryEqualsPyTorch(string fixture, string @case)
    {
        var f = Fixture.Load(fixture);
        var (problem, opt) = Setup<double>(f, @case);
        for (int t = 1; t <= Steps; t++)
        {
            problem.Step(opt, t);
            foreach (var (name, p) in problem.Parameters)
                TestData.AssertClose<double>(AfterStep(f, @case, name, t, p.Length), p.Data, 1e-12, 1e-12, $"{@case} {name} step {t}");
        }
    }

    // Float runs the SIMD float path; it follows the double trajectory closely (not bit for bit).
    [Theory]
    [InlineData("optim_adam", "adamw_amsgrad")]
    [InlineData("optim_adam", "adamw_sparse")]
    [InlineData("optim_sgd", "nesterov")]
    [InlineData("optim_rmsprop", "rmsprop_all")]
    [InlineData("optim_adagrad", "adagrad_sparse")]
    public void FloatTrajectoryFollowsPyTorch(string fixture, string @case)
    {
        var f = Fixture.Load(fixture);
        var (problem, opt) = Setup<float>(f, @case);
        for (int t = 1; t <= Steps; t++) problem.Step(opt, t);
        foreach (var (name, p) in problem.Parameters)
            TestData.AssertClose<double>(AfterStep(f, @case, name, Steps, p.Length), Array.ConvertAll(p.Data, v => (double)v), 2e-4, 2e-4, name);
    }

    // Run 10 steps, save, build a new optimiser (different hyperparameters, which the state overrides) over copies of the
    // parameters, load, run 10 more: every value equals the straight 20-step run bit for bit.
    [Theory]
    [MemberData(nameof(Cases))]
    public void StateDictResumesBitIdentically(string fixture, string @case)
    {
        var f = Fixture.Load(fixture);
        var (straight, straightOpt) = Setup<double>(f, @case);
        var (resumed, first) = Setup<double>(f, @case);
        for (int t = 1; t <= 10; t++)
        {
            straight.Step(straightOpt, t);
            resumed.Step(first, t);
        }
        var saved = DeepCopy(first.StateDict());

        var (second, secondOpt) = Setup<double>(f, @case);
        foreach (var (name, p) in resumed.Parameters) p.Data.CopyTo(second.Parameters[name].Data, 0);
        foreach (var g in secondOpt.ParamGroups) g.Lr = 123.0; // overwritten by the state
        secondOpt.LoadStateDict(saved);
        for (int t = 11; t <= Steps; t++)
        {
            straight.Step(straightOpt, t);
            second.Step(secondOpt, t);
        }
        foreach (var (name, p) in straight.Parameters) Assert.Equal(p.Data, second.Parameters[name].Data);
    }

    // What a safetensors round trip keeps: the numbers, not the live arrays.
    internal static OptimizerStateDict<T> DeepCopy<T>(OptimizerStateDict<T> state) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var tensors = new OrderedDictionary<string, Tensor<T>>();
        foreach (var (key, t) in state.Tensors) tensors.Add(key, Tensor.Create(t.ToArray(), t.Lengths));
        return new OptimizerStateDict<T>(tensors, new Dictionary<string, string>(state.Metadata));
    }

    [Fact]
    public void StateDictUsesPyTorchKeysAndIndicesOverTheGroups()
    {
        var f = Fixture.Load("optim_adam");
        var (problem, opt) = Setup<double>(f, "adamw_groups");
        problem.Step(opt, 1);
        var state = opt.StateDict();
        Assert.Equal(["state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.1.step", "state.1.exp_avg", "state.1.exp_avg_sq"], state.Tensors.Keys);
        Assert.Equal(new nint[] { 2, 3 }, state.Tensors["state.0.exp_avg"].Lengths.ToArray());
        Assert.Equal(1.0, state.Tensors["state.1.step"].ToArray().Single());
        var m = state.Metadata;
        Assert.Equal("AdamW", m["optimizer"]);
        Assert.Equal("[0]", m["param_groups.0.params"]);
        Assert.Equal("[1]", m["param_groups.1.params"]);
        Assert.Equal("0.05", m["param_groups.0.lr"]);
        Assert.Equal("0.1", m["param_groups.1.lr"]);
        Assert.Equal("0", m["param_groups.0.weight_decay"]);
        Assert.Equal("0.3", m["param_groups.1.weight_decay"]);
        Assert.Equal("[0.7,0.99]", m["param_groups.1.betas"]);
        Assert.Equal("1E-08", m["param_groups.1.eps"]);
        Assert.Equal("false", m["param_groups.0.amsgrad"]);
        Assert.False(m.ContainsKey("param_groups.0.momentum"));
    }

    [Fact]
    public void AdagradHasStateFromConstructionSgdWithoutMomentumHasNone()
    {
        var f = Fixture.Load("optim_adagrad");
        var (_, adagrad) = Setup<double>(f, "adagrad_wd_init");
        var state = adagrad.StateDict().Tensors;
        Assert.Equal(0.0, state["state.1.step"].ToArray().Single());
        Assert.All(state["state.1.sum"].ToArray(), v => Assert.Equal(0.5, v));

        var (problem, sgd) = Setup<double>(Fixture.Load("optim_sgd"), "plain");
        problem.Step(sgd, 1);
        Assert.Empty(sgd.StateDict().Tensors);
    }

    internal static JsonElement Spec(Fixture f, string @case) => f.Meta.GetProperty("cases").GetProperty(@case);
}
