namespace NeuralPrimitives.Tests.Optim;

// A parameter of Optimizer.RangeSplitThreshold elements or more is updated in ranges on Parallelism.NumThreads threads:
// the result must not depend on the split (bit for bit), and no Step may allocate once the state exists.
[Collection(GlobalStateCollection.Name)]
public class OptimizerThreadingTests
{
    private const int Large = Optimizer<float>.RangeSplitThreshold * 3 + 37; // several parts and a scalar tail

    private static Parameter<T> Random<T>(string name, int length, ulong seed) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var p = new Parameter<T>(name, length);
        var rng = new Rng(seed);
        rng.FillNormal<T>(p.Data);
        rng.FillNormal<T>(p.Grad);
        return p;
    }

    public static TheoryData<string> Optimisers() => ["sgd_nesterov", "adamw_amsgrad", "adam_l2", "rmsprop_centered_momentum", "adagrad"];

    private static Optimizer<T> Make<T>(string kind, Parameter<T>[] ps) where T : unmanaged, IBinaryFloatingPointIeee754<T> => kind switch
    {
        "sgd_nesterov" => new Sgd<T>(ps, lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-3),
        "adamw_amsgrad" => new AdamW<T>(ps, lr: 1e-3, weightDecay: 0.01, amsgrad: true),
        "adam_l2" => new Adam<T>(ps, lr: 1e-3, weightDecay: 0.1),
        "rmsprop_centered_momentum" => new RmsProp<T>(ps, momentum: 0.5, centered: true),
        "adagrad" => new Adagrad<T>(ps, lrDecay: 0.01),
        _ => throw new NotSupportedException(kind),
    };

    private static T[] Run<T>(string kind, int threads) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        GlobalStateCollection.WithThreads(threads, () =>
        {
            var p = Random<T>("w", Large, 7);
            var opt = Make(kind, [p]);
            for (int i = 0; i < 3; i++) opt.Step();
            return p.Data;
        });

    [Theory]
    [MemberData(nameof(Optimisers))]
    public void LargeParameterUpdateDoesNotDependOnTheThreadCount(string kind)
    {
        long before = Parallelism.ParallelRuns;
        var two = Run<float>(kind, 2);
        Assert.True(Parallelism.ParallelRuns > before, "the two-thread run should have split the parameter");
        Assert.Equal(Run<float>(kind, 1), two);
        Assert.Equal(Run<float>(kind, 3), two);
        Assert.Equal(Run<double>(kind, 1), Run<double>(kind, 2));
    }

    // The threaded float update equals the same optimiser run in double on a small parameter, element by element
    // (checks the SIMD float lanes, the scalar tail and the range split against an independent precision).
    [Theory]
    [MemberData(nameof(Optimisers))]
    public void FloatUpdateFollowsTheDoubleUpdate(string kind)
    {
        var pf = Random<float>("w", Large, 3);
        var pd = new Parameter<double>("w", Large);
        for (int i = 0; i < Large; i++) { pd.Data[i] = pf.Data[i]; pd.Grad[i] = pf.Grad[i]; }
        var of = Make(kind, [pf]);
        var od = Make(kind, [pd]);
        GlobalStateCollection.WithThreads(2, () =>
        {
            for (int i = 0; i < 3; i++) { of.Step(); od.Step(); }
            return 0;
        });
        TestData.AssertClose<double>(pd.Data, Array.ConvertAll(pf.Data, v => (double)v), 2e-5, 2e-5, kind);
    }

    [Theory]
    [MemberData(nameof(Optimisers))]
    public void StepAllocatesNothingAfterWarmUp(string kind)
    {
        var ps = new[] { Random<float>("w", Large, 1), Random<float>("b", 5, 2) };
        var opt = Make(kind, ps);
        Assert.Equal(0, GlobalStateCollection.WithThreads(2, () => Allocations.SteadyStateBytes(opt.Step)));
        Assert.Equal(0, GlobalStateCollection.WithThreads(1, () => Allocations.SteadyStateBytes(opt.Step)));
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("sgd_momentum")]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("adagrad")]
    public void SparseStepAllocatesNothingAfterWarmUp(string kind)
    {
        var table = new Parameter<float>("weight", 50, 8);
        table.UseSparseGrad();
        var dense = Random<float>("bias", 8, 4);
        Optimizer<float> opt = kind switch
        {
            "sgd" => new Sgd<float>([table, dense], lr: 0.1),
            "sgd_momentum" => new Sgd<float>([table, dense], lr: 0.1, momentum: 0.9, weightDecay: 0.1),
            "adam" => new Adam<float>([table, dense], weightDecay: 0.1),
            "adamw" => new AdamW<float>([table, dense]),
            _ => new Adagrad<float>([table, dense]),
        };
        int step = 0;
        void Step()
        {
            table.ZeroGrad();
            for (int r = step % 7; r < 50; r += 5) table.SparseGrad!.Row(r)[1] = 1; // a changing set of rows
            step++;
            opt.Step();
        }
        for (int i = 0; i < 60; i++) Step(); // every row touched once, so the slot arrays have grown
        Assert.Equal(0, Allocations.SteadyStateBytes(Step));
    }
}
