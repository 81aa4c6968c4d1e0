// ExponentialLR (PyTorch's torch.optim.lr_scheduler.ExponentialLR): decay by γ every epoch.
//     lr_0 = lr,   lr_e = γ · lr_{e−1}  (e ≥ 1)      so lr_e = base_lr · γ^e
namespace NeuralPrimitives;

/// <summary>Multiplies each group's learning rate by <see cref="Gamma"/> every epoch (PyTorch's <c>ExponentialLR</c>).</summary>
public sealed class ExponentialLR : LrScheduler
{
    /// <summary>Creates the schedule and sets the epoch-0 learning rates.</summary>
    /// <param name="optimizer">The optimiser whose learning rates it writes.</param>
    /// <param name="gamma">Multiplicative factor per epoch, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is negative or not finite.</exception>
    public ExponentialLR(IOptimizer optimizer, double gamma) : base(optimizer)
    {
        Gamma = Schedules.NonNegative(gamma);
        InitialStep();
    }

    /// <summary>The decay factor γ.</summary>
    public double Gamma { get; }

    private protected override double ComputeLr(int epoch, int g) => epoch == 0 ? GroupLr(g) : GroupLr(g) * Gamma;
}
