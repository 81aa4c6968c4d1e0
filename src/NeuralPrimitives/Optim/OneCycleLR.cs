// OneCycleLR (Smith & Topin 2018; PyTorch 1.13's torch.optim.lr_scheduler.OneCycleLR): the lr rises from
// max_lr/div_factor to max_lr, then falls far below the start, over exactly total_steps optimiser steps; the
// momentum (SGD's momentum, Adam's β1) moves the opposite way. Closed form of the epoch e (= step number):
//     initial_lr = max_lr / div_factor,   min_lr = initial_lr / final_div_factor
//     two phases:    [0, p·N − 1]             lr: initial_lr → max_lr     momentum: max_m → base_m
//                    (p·N − 1, N − 1]         lr: max_lr → min_lr         momentum: base_m → max_m
//     three phases:  [0, p·N − 1]             lr: initial_lr → max_lr     momentum: max_m → base_m
//                    (p·N − 1, 2·p·N − 2]     lr: max_lr → initial_lr     momentum: base_m → max_m
//                    (2·p·N − 2, N − 1]       lr: initial_lr → min_lr     momentum: max_m
//     within a phase from step a to step b:  x = (e − a) / (b − a)   (a = 0 for the first phase)
//         cos:    value = end + (start − end)/2 · (cos(π·x) + 1)
//         linear: value = (end − start)·x + start
// with N = total_steps and p = pct_start. Construction overwrites each group's InitialLr with max_lr/div_factor
// (as PyTorch does) and, with cycle_momentum, its Momentum (SGD, RMSprop) or β1 (Adam, AdamW) with max_momentum.
// Stepping past epoch N is an error (PyTorch allows e = N, which extrapolates the last phase; so do we).
namespace NeuralPrimitives;

/// <summary>How <see cref="OneCycleLR"/> moves between its end points.</summary>
public enum AnnealStrategy
{
    /// <summary>Cosine annealing (PyTorch <c>'cos'</c>, the default).</summary>
    Cos,

    /// <summary>Linear annealing (PyTorch <c>'linear'</c>).</summary>
    Linear,
}

/// <summary>
/// The one-cycle policy (PyTorch's <c>OneCycleLR</c>): warm up to <c>maxLr</c>, anneal far below the start, and cycle the
/// momentum (or Adam's β1) inversely. Call <see cref="LrScheduler.Step"/> after every optimiser step, at most total_steps times.
/// </summary>
public sealed class OneCycleLR : LrScheduler
{
    private readonly double[] _maxLr, _initialLr, _minLr;
    private readonly Phase[] _phases;
    private readonly bool _useBeta1;

    /// <summary>One-cycle over <paramref name="totalSteps"/> steps with the same peak for every group.</summary>
    /// <param name="optimizer">The optimiser whose learning rates (and momentum) it writes.</param>
    /// <param name="maxLr">Peak learning rate &gt; 0.</param>
    /// <param name="totalSteps">Number of optimiser steps in the cycle (PyTorch <c>total_steps</c>, or epochs × steps_per_epoch), ≥ 1.</param>
    /// <param name="pctStart">Fraction of the cycle spent increasing the lr, in [0, 1] (default 0.3).</param>
    /// <param name="annealStrategy">Cosine (default) or linear annealing.</param>
    /// <param name="cycleMomentum">Also cycle the momentum between <paramref name="maxMomentum"/> and <paramref name="baseMomentum"/> (needs an optimiser with momentum or betas).</param>
    /// <param name="baseMomentum">Momentum at the lr peak, in [0, 1) (default 0.85).</param>
    /// <param name="maxMomentum">Momentum at the start and end, in [0, 1) (default 0.95).</param>
    /// <param name="divFactor">initial_lr = maxLr / divFactor, &gt; 0 (default 25).</param>
    /// <param name="finalDivFactor">min_lr = initial_lr / finalDivFactor, &gt; 0 (default 1e4).</param>
    /// <param name="threePhase">Use the three-phase variant (anneal back to initial_lr before going to min_lr).</param>
    /// <exception cref="ArgumentException">Momentum cycling on an optimiser without momentum or betas, or a phase of zero length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public OneCycleLR(IOptimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, AnnealStrategy annealStrategy = AnnealStrategy.Cos,
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4,
        bool threePhase = false)
        : this(optimizer, Broadcast(optimizer, maxLr), totalSteps, pctStart, annealStrategy, cycleMomentum, baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase)
    {
    }

    /// <summary>One-cycle over <paramref name="totalSteps"/> steps with a peak per group.</summary>
    /// <param name="optimizer">The optimiser whose learning rates (and momentum) it writes.</param>
    /// <param name="maxLr">Peak learning rate of each group (&gt; 0), one per group.</param>
    /// <param name="totalSteps">Number of optimiser steps in the cycle, ≥ 1.</param>
    /// <param name="pctStart">Fraction of the cycle spent increasing the lr, in [0, 1].</param>
    /// <param name="annealStrategy">Cosine or linear annealing.</param>
    /// <param name="cycleMomentum">Also cycle the momentum.</param>
    /// <param name="baseMomentum">Momentum at the lr peak, in [0, 1).</param>
    /// <param name="maxMomentum">Momentum at the start and end, in [0, 1).</param>
    /// <param name="divFactor">initial_lr = maxLr / divFactor, &gt; 0.</param>
    /// <param name="finalDivFactor">min_lr = initial_lr / finalDivFactor, &gt; 0.</param>
    /// <param name="threePhase">Use the three-phase variant.</param>
    /// <exception cref="ArgumentException"><paramref name="maxLr"/> has the wrong length, momentum cycling on an optimiser without momentum or betas, or a phase of zero length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public OneCycleLR(IOptimizer optimizer, IReadOnlyList<double> maxLr, int totalSteps, double pctStart = 0.3, AnnealStrategy annealStrategy = AnnealStrategy.Cos,
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4,
        bool threePhase = false)
        : base(Prepare(optimizer, maxLr, divFactor))
    {
        Guard.Positive(totalSteps);
        Guard.InRange(pctStart, 0, 1);
        Schedules.Positive(finalDivFactor);
        if (!Enum.IsDefined(annealStrategy))
            throw new ArgumentOutOfRangeException(nameof(annealStrategy), annealStrategy, $"annealStrategy must be Cos or Linear, got {annealStrategy}.");
        TotalSteps = totalSteps;
        Strategy = annealStrategy;
        CycleMomentum = cycleMomentum;
        int groups = optimizer.ParamGroups.Count;
        _maxLr = maxLr.ToArray();
        _initialLr = new double[groups];
        _minLr = new double[groups];
        for (int g = 0; g < groups; g++)
        {
            _initialLr[g] = BaseLrs[g];
            _minLr[g] = _initialLr[g] / finalDivFactor;
        }
        _phases = Phases(totalSteps, pctStart, threePhase);
        BaseMomentum = baseMomentum;
        MaxMomentum = maxMomentum;
        if (cycleMomentum)
        {
            var first = optimizer.ParamGroups[0];
            if (first.Betas is null && first.Momentum is null)
                throw new ArgumentException("cycleMomentum needs an optimiser with momentum (Sgd, RmsProp) or betas (Adam, AdamW); pass cycleMomentum: false.", nameof(cycleMomentum));
            _useBeta1 = first.Betas is not null;
            if (!(baseMomentum >= 0 && baseMomentum < 1))
                throw new ArgumentOutOfRangeException(nameof(baseMomentum), baseMomentum, $"baseMomentum must be in [0, 1), got {baseMomentum}.");
            if (!(maxMomentum >= 0 && maxMomentum < 1))
                throw new ArgumentOutOfRangeException(nameof(maxMomentum), maxMomentum, $"maxMomentum must be in [0, 1), got {maxMomentum}.");
            foreach (var group in optimizer.ParamGroups) SetMomentum(group, maxMomentum);
        }
        InitialStep();
    }

    /// <summary>Number of steps in the cycle.</summary>
    public int TotalSteps { get; }

    /// <summary>Cosine or linear annealing.</summary>
    public AnnealStrategy Strategy { get; }

    /// <summary>Whether the momentum (or β1) is cycled.</summary>
    public bool CycleMomentum { get; }

    /// <summary>Momentum at the lr peak.</summary>
    public double BaseMomentum { get; }

    /// <summary>Momentum at the start and the end of the cycle.</summary>
    public double MaxMomentum { get; }

    private static IReadOnlyList<double> Broadcast(IOptimizer optimizer, double maxLr)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        return Enumerable.Repeat(maxLr, optimizer.ParamGroups.Count).ToArray();
    }

    // Runs before the base constructor reads InitialLr: PyTorch overwrites it with max_lr / div_factor.
    private static IOptimizer Prepare(IOptimizer optimizer, IReadOnlyList<double> maxLr, double divFactor)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(maxLr);
        Schedules.Positive(divFactor);
        var groups = optimizer.ParamGroups;
        if (maxLr.Count != groups.Count)
            throw new ArgumentException($"maxLr must have one value per parameter group: expected {groups.Count}, got {maxLr.Count}.", nameof(maxLr));
        for (int g = 0; g < groups.Count; g++)
        {
            if (!(double.IsFinite(maxLr[g]) && maxLr[g] > 0))
                throw new ArgumentOutOfRangeException(nameof(maxLr), maxLr[g], $"maxLr[{g}] must be a finite number > 0, got {maxLr[g]}.");
            groups[g].InitialLr = maxLr[g] / divFactor;
        }
        return optimizer;
    }

    private static Phase[] Phases(int total, double pct, bool threePhase)
    {
        Phase[] phases = threePhase
            ?
            [
                new(pct * total - 1, Anchor.Initial, Anchor.Max, Anchor.MaxMomentum, Anchor.BaseMomentum),
                new(2 * pct * total - 2, Anchor.Max, Anchor.Initial, Anchor.BaseMomentum, Anchor.MaxMomentum),
                new(total - 1, Anchor.Initial, Anchor.Min, Anchor.MaxMomentum, Anchor.MaxMomentum),
            ]
            :
            [
                new(pct * total - 1, Anchor.Initial, Anchor.Max, Anchor.MaxMomentum, Anchor.BaseMomentum),
                new(total - 1, Anchor.Max, Anchor.Min, Anchor.BaseMomentum, Anchor.MaxMomentum),
            ];
        double start = 0;
        foreach (var phase in phases)
        {
            if (phase.EndStep == start)
                throw new ArgumentException($"pctStart {pct} with totalSteps {total} gives a phase of zero length (ending at step {phase.EndStep}); choose another pctStart or more steps.", "pctStart");
            start = phase.EndStep;
        }
        return phases;
    }

    private protected override void CheckCanStep(int epoch)
    {
        if (epoch > TotalSteps)
            throw new InvalidOperationException($"OneCycleLR was stepped {epoch + 1} times, but its cycle has totalSteps = {TotalSteps}.");
    }

    private protected override double ComputeLr(int epoch, int g)
    {
        double start = 0;
        for (int i = 0; ; i++)
        {
            var phase = _phases[i];
            if (epoch <= phase.EndStep || i == _phases.Length - 1)
            {
                double pct = (epoch - start) / (phase.EndStep - start);
                if (CycleMomentum) SetMomentum(Optimizer.ParamGroups[g], Anneal(Value(phase.StartMomentum, g), Value(phase.EndMomentum, g), pct));
                return Anneal(Value(phase.StartLr, g), Value(phase.EndLr, g), pct);
            }
            start = phase.EndStep;
        }
    }

    private double Anneal(double start, double end, double pct) => Strategy == AnnealStrategy.Cos
        ? end + (start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1)
        : (end - start) * pct + start;

    private double Value(Anchor anchor, int g) => anchor switch
    {
        Anchor.Initial => _initialLr[g],
        Anchor.Max => _maxLr[g],
        Anchor.Min => _minLr[g],
        Anchor.MaxMomentum => MaxMomentum,
        _ => BaseMomentum,
    };

    private void SetMomentum(ParamGroup group, double momentum)
    {
        if (_useBeta1) group.Betas = (momentum, group.Betas!.Value.Beta2);
        else group.Momentum = momentum;
    }

    private enum Anchor { Initial, Max, Min, MaxMomentum, BaseMomentum }

    private readonly record struct Phase(double EndStep, Anchor StartLr, Anchor EndLr, Anchor StartMomentum, Anchor EndMomentum);
}
