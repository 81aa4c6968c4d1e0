// CosineAnnealingLR (PyTorch 1.13's torch.optim.lr_scheduler.CosineAnnealingLR, SGDR without restarts).
// The closed form is
//     lr_e = η_min + (base_lr − η_min) · (1 + cos(π·e / T_max)) / 2
// but PyTorch steps it recursively from the current lr, and so do we (its numbers differ from the closed
// form in the last bits, and the recursion composes with other schedules):
//     e = 0:                                lr_0 = lr
//     (e − 1 − T_max) mod 2·T_max = 0:       lr_e = lr_{e−1} + (base_lr − η_min) · (1 − cos(π / T_max)) / 2
//     otherwise:                            lr_e = (1 + cos(π·e / T_max)) / (1 + cos(π·(e − 1) / T_max)) · (lr_{e−1} − η_min) + η_min
// After T_max the lr climbs back (a cosine of period 2·T_max); the middle line is the step out of the trough,
// where the ratio's denominator is 0.
namespace NeuralPrimitives;

/// <summary>Cosine annealing from each group's lr down to <see cref="EtaMin"/> over <see cref="TMax"/> epochs (PyTorch's <c>CosineAnnealingLR</c>, recursive form).</summary>
public sealed class CosineAnnealingLR : LrScheduler
{
    /// <summary>Creates the schedule and sets the epoch-0 learning rates.</summary>
    /// <param name="optimizer">The optimiser whose learning rates it writes.</param>
    /// <param name="tMax">Half period T_max in epochs, ≥ 1 (PyTorch <c>T_max</c>).</param>
    /// <param name="etaMin">Minimum learning rate η_min, finite and ≥ 0 (default 0).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tMax"/> &lt; 1 or <paramref name="etaMin"/> negative or not finite.</exception>
    public CosineAnnealingLR(IOptimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        TMax = Guard.Positive(tMax);
        EtaMin = Schedules.NonNegative(etaMin);
        InitialStep();
    }

    /// <summary>Half period T_max in epochs.</summary>
    public int TMax { get; }

    /// <summary>Minimum learning rate η_min.</summary>
    public double EtaMin { get; }

    private protected override double ComputeLr(int epoch, int g)
    {
        double lr = GroupLr(g);
        if (epoch == 0) return lr;
        if ((epoch - 1 - TMax) % (2 * TMax) == 0) return lr + (BaseLrs[g] - EtaMin) * (1 - Math.Cos(Math.PI / TMax)) / 2;
        return (1 + Math.Cos(Math.PI * epoch / TMax)) / (1 + Math.Cos(Math.PI * (epoch - 1) / TMax)) * (lr - EtaMin) + EtaMin;
    }
}
