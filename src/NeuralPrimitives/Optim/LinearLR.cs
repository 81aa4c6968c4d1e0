// LinearLR (PyTorch's torch.optim.lr_scheduler.LinearLR): scale the lr linearly from start_factor·lr to
// end_factor·lr over total_iters epochs, then hold it — a linear warm-up (start < end) or decay.
// Closed form: lr_e = base_lr · (s + (f − s) · min(e, N) / N), with s = start, f = end, N = total_iters;
// computed recursively as PyTorch does:
//     e = 0:        lr_0 = s · lr
//     e > N:        lr_e = lr_{e−1}
//     otherwise:    lr_e = lr_{e−1} · (1 + (f − s) / (N·s + (e − 1)·(f − s)))
namespace NeuralPrimitives;

/// <summary>Linear warm-up or decay of each group's learning rate by a factor going from <see cref="StartFactor"/> to <see cref="EndFactor"/> (PyTorch's <c>LinearLR</c>).</summary>
public sealed class LinearLR : LrScheduler
{
    /// <summary>Creates the schedule and sets the epoch-0 learning rates (start_factor · lr).</summary>
    /// <param name="optimizer">The optimiser whose learning rates it writes.</param>
    /// <param name="startFactor">Factor at epoch 0, in (0, 1] (default 1/3). PyTorch 1.13 accepts 0 and then divides by zero at epoch 1; PyTorch 2 rejects it, as we do.</param>
    /// <param name="endFactor">Factor from epoch <paramref name="totalIters"/> on, in [0, 1] (default 1).</param>
    /// <param name="totalIters">Epochs the factor takes to reach <paramref name="endFactor"/>, ≥ 1 (default 5).</param>
    /// <exception cref="ArgumentOutOfRangeException">A factor is out of range or <paramref name="totalIters"/> &lt; 1.</exception>
    public LinearLR(IOptimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5) : base(optimizer)
    {
        if (!(startFactor > 0 && startFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(startFactor), startFactor, $"startFactor must be in (0, 1], got {startFactor}.");
        StartFactor = startFactor;
        EndFactor = Guard.InRange(endFactor, 0, 1);
        TotalIters = Guard.Positive(totalIters);
        InitialStep();
    }

    /// <summary>The factor at epoch 0.</summary>
    public double StartFactor { get; }

    /// <summary>The factor from epoch <see cref="TotalIters"/> on.</summary>
    public double EndFactor { get; }

    /// <summary>Epochs of the linear ramp.</summary>
    public int TotalIters { get; }

    private protected override double ComputeLr(int epoch, int g)
    {
        double lr = GroupLr(g);
        return epoch == 0 ? lr * StartFactor
            : epoch > TotalIters ? lr
            : lr * (1.0 + (EndFactor - StartFactor) / (TotalIters * StartFactor + (epoch - 1) * (EndFactor - StartFactor)));
    }
}
