// StepLR (PyTorch's torch.optim.lr_scheduler.StepLR): decay every group's learning rate by γ every
// stepSize epochs.
//     epoch e = 0 or e mod stepSize ≠ 0:   lr_e = lr_{e−1}         (epoch 0: the group's lr)
//     e mod stepSize = 0:                   lr_e = γ · lr_{e−1}
// so lr_e = base_lr · γ^⌊e / stepSize⌋ when nothing else changes the lr (computed recursively, as PyTorch does).
namespace NeuralPrimitives;

/// <summary>Multiplies each group's learning rate by <see cref="Gamma"/> every <see cref="StepSize"/> epochs (PyTorch's <c>StepLR</c>).</summary>
public sealed class StepLR : LrScheduler
{
    /// <summary>Creates the schedule and sets the epoch-0 learning rates.</summary>
    /// <param name="optimizer">The optimiser whose learning rates it writes.</param>
    /// <param name="stepSize">Epochs between decays, ≥ 1.</param>
    /// <param name="gamma">Multiplicative factor, finite and ≥ 0 (default 0.1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="stepSize"/> &lt; 1 or <paramref name="gamma"/> negative or not finite.</exception>
    public StepLR(IOptimizer optimizer, int stepSize, double gamma = 0.1) : base(optimizer)
    {
        StepSize = Guard.Positive(stepSize);
        Gamma = Schedules.NonNegative(gamma);
        InitialStep();
    }

    /// <summary>Epochs between decays.</summary>
    public int StepSize { get; }

    /// <summary>The decay factor γ.</summary>
    public double Gamma { get; }

    private protected override double ComputeLr(int epoch, int g) =>
        epoch != 0 && epoch % StepSize == 0 ? GroupLr(g) * Gamma : GroupLr(g);
}
