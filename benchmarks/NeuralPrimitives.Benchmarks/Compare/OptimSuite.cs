namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Optimiser step of issue 9 (peer: benchmarks/peers/cases_optim.py, same names), float, <see cref="Parallelism.NumThreads"/> threads.
/// <list type="bullet">
/// <item><c>adamw_step</c>: one <see cref="AdamW{T}"/> step (lr 1e-3, weight decay 0.01) over a single 10,000,000-element
/// parameter with a fixed random gradient. The update reads θ, g, m, v and writes θ, m, v: 28 bytes per element, 280 MB a step.
/// The peer times PyTorch's AdamW with foreach=False and foreach=True and reports the faster one.</item>
/// <item><c>adamw_step_foreach</c>, <c>adamw_step_single</c>: the same step on our side, so the table shows it beside each of
/// PyTorch's two implementations.</item>
/// <item><c>copy_400mb</c>: <see cref="Span{T}.CopyTo"/> of 100,000,000 floats (400 MB read, 400 MB written): the machine's copy
/// bandwidth, to read AdamW's GB/s against (peer: <c>dst.copy_(src)</c>).</item>
/// </list>
/// </summary>
public sealed class OptimSuite : ICompareSuite
{
    /// <summary>Elements of the benchmarked parameter.</summary>
    public const int AdamWLength = 10_000_000;

    /// <summary>Floats copied by <c>copy_400mb</c>.</summary>
    public const int CopyLength = 100_000_000;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("adamw_step", AdamWStep);
        yield return new("adamw_step_foreach", AdamWStep);
        yield return new("adamw_step_single", AdamWStep);
        yield return new("copy_400mb", Copy);
    }

    /// <summary>An AdamW over one seeded N(0, 1) parameter with a seeded N(0, 1) gradient; returns its Step.</summary>
    public static Action AdamWStep()
    {
        var p = new Parameter<float>("weight", AdamWLength);
        var rng = new Rng(0);
        rng.FillNormal<float>(p.Data);
        rng.FillNormal<float>(p.Grad);
        var opt = new AdamW<float>([p], lr: 1e-3, weightDecay: 0.01);
        opt.Step(); // creates the state
        return opt.Step;
    }

    private static Action Copy()
    {
        var src = new float[CopyLength];
        var dst = new float[CopyLength];
        src.AsSpan().Fill(1f);
        dst.AsSpan().Clear();
        return () => src.AsSpan().CopyTo(dst);
    }
}
