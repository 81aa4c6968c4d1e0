// Linear warm-up then cosine decay: nanoGPT's get_lr (train.py), as a schedule. With base_lr the group's lr
// (nanoGPT's learning_rate), W = warmup_iters, D = lr_decay_iters, and epoch e = nanoGPT's iteration:
//     e < W:        lr_e = base_lr · (e + 1) / (W + 1)                       linear warm-up (never 0)
//     e > D:        lr_e = min_lr
//     otherwise:    r = (e − W) / (D − W),  lr_e = min_lr + ½·(1 + cos(π·r)) · (base_lr − min_lr)
// nanoGPT sets lr = get_lr(iter_num) before the step of iteration iter_num; here epoch e's lr is in place for
// the optimiser's e-th step (construction sets epoch 0), which is the same sequence. (Older nanoGPT versions
// warmed up with base_lr · e / W, starting at 0.)
namespace NeuralPrimitives;

/// <summary>nanoGPT's learning-rate schedule: linear warm-up, cosine decay to <see cref="MinLr"/> until <see cref="LrDecayIters"/>, then <see cref="MinLr"/>.</summary>
public sealed class WarmupCosineLR : LrScheduler
{
    /// <summary>Creates the schedule and sets the epoch-0 learning rates.</summary>
    /// <param name="optimizer">The optimiser whose learning rates it writes; each group's lr is its peak (nanoGPT's <c>learning_rate</c>).</param>
    /// <param name="warmupIters">Warm-up epochs W ≥ 0.</param>
    /// <param name="lrDecayIters">Epoch D &gt; W at which the decay reaches <paramref name="minLr"/> (nanoGPT: about max_iters).</param>
    /// <param name="minLr">Final learning rate, finite and ≥ 0, the same for every group (nanoGPT: about lr/10).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="warmupIters"/> &lt; 0, <paramref name="lrDecayIters"/> ≤ <paramref name="warmupIters"/>, or <paramref name="minLr"/> negative or not finite.</exception>
    public WarmupCosineLR(IOptimizer optimizer, int warmupIters, int lrDecayIters, double minLr) : base(optimizer)
    {
        WarmupIters = Guard.NonNegative(warmupIters);
        if (lrDecayIters <= warmupIters)
            throw new ArgumentOutOfRangeException(nameof(lrDecayIters), lrDecayIters, $"lrDecayIters must be greater than warmupIters ({warmupIters}), got {lrDecayIters}.");
        LrDecayIters = lrDecayIters;
        MinLr = Schedules.NonNegative(minLr);
        InitialStep();
    }

    /// <summary>Warm-up epochs.</summary>
    public int WarmupIters { get; }

    /// <summary>Epoch at which the cosine reaches <see cref="MinLr"/>.</summary>
    public int LrDecayIters { get; }

    /// <summary>The learning rate after the decay.</summary>
    public double MinLr { get; }

    private protected override double ComputeLr(int epoch, int g)
    {
        double lr = BaseLrs[g];
        if (epoch < WarmupIters) return lr * (epoch + 1) / (WarmupIters + 1);
        if (epoch > LrDecayIters) return MinLr;
        double ratio = (double)(epoch - WarmupIters) / (LrDecayIters - WarmupIters);
        double coeff = 0.5 * (1.0 + Math.Cos(Math.PI * ratio));
        return MinLr + coeff * (lr - MinLr);
    }
}
