// Learning-rate schedules (PyTorch's torch.optim.lr_scheduler), with PyTorch's epoch semantics:
//
//   construction   every group gets InitialLr = Lr if it has none (the first schedule sets it), the base
//                  learning rates are those InitialLr values, LastEpoch = −1, and one Step() runs at once, so
//                  LastEpoch = 0 and each group's Lr is the schedule's value for epoch 0 (LinearLR's
//                  start_factor·lr, OneCycleLR's max_lr/div_factor, …).
//   Step()         call once after each optimiser.Step(): LastEpoch += 1, each group's Lr ← the schedule's
//                  value, and LastLr records them. So the k-th optimiser step (k = 0, 1, …) uses epoch k's lr.
//
// Most schedules are "chainable" as in PyTorch: the new lr is computed from the group's current Lr (StepLR
// multiplies it by γ every step_size epochs), so two schedules on one optimiser compose, and floating-point
// results match PyTorch's recursive forms exactly (CosineAnnealingLR's recursive form differs from the
// closed form in the last bits). OneCycleLR and WarmupCosineLR are closed forms of the epoch.
// StateDict()/LoadStateDict() save and restore LastEpoch, the step count, the base and the last lrs (text, for
// safetensors metadata) to resume a schedule.
using System.Globalization;

namespace NeuralPrimitives;

/// <summary>
/// Base class of the learning-rate schedules (<see cref="StepLR"/>, <see cref="ExponentialLR"/>, <see cref="CosineAnnealingLR"/>,
/// <see cref="LinearLR"/>, <see cref="OneCycleLR"/>, <see cref="WarmupCosineLR"/>): PyTorch's <c>_LRScheduler</c> semantics
/// (the epoch-0 learning rate is set at construction; call <see cref="Step"/> after each optimiser step).
/// </summary>
public abstract class LrScheduler
{
    private readonly double[] _baseLrs, _lastLr, _next;

    private protected LrScheduler(IOptimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        var groups = optimizer.ParamGroups;
        _baseLrs = new double[groups.Count];
        _lastLr = new double[groups.Count];
        _next = new double[groups.Count];
        for (int g = 0; g < groups.Count; g++)
        {
            groups[g].InitialLr ??= groups[g].Lr;
            _baseLrs[g] = groups[g].InitialLr ?? throw new ArgumentException($"optimizer.ParamGroups[{g}] has no Lr.", nameof(optimizer));
        }
    }

    /// <summary>The optimiser whose groups' learning rates this schedule writes.</summary>
    public IOptimizer Optimizer { get; }

    /// <summary>The epoch of the current learning rates (0 right after construction; +1 per <see cref="Step"/>).</summary>
    public int LastEpoch { get; private set; } = -1;

    /// <summary>How many times <see cref="Step"/> has run, counting the one at construction (PyTorch's <c>_step_count</c>).</summary>
    public int StepCount { get; private set; }

    /// <summary>Each group's base learning rate (its <see cref="ParamGroup.InitialLr"/> at construction).</summary>
    public IReadOnlyList<double> BaseLrs => _baseLrs;

    /// <summary>The learning rate of each group set by the last <see cref="Step"/> (PyTorch's <c>get_last_lr()</c>).</summary>
    public IReadOnlyList<double> LastLr => _lastLr;

    /// <summary>Same as <see cref="LastLr"/> (PyTorch's name).</summary>
    public IReadOnlyList<double> GetLastLr() => _lastLr;

    /// <summary>Advances one epoch and writes each group's new learning rate. Allocates nothing.</summary>
    public void Step()
    {
        CheckCanStep(LastEpoch + 1);
        StepCount++;
        LastEpoch++;
        for (int g = 0; g < _next.Length; g++) _next[g] = ComputeLr(LastEpoch, g);
        var groups = Optimizer.ParamGroups;
        for (int g = 0; g < _next.Length; g++)
        {
            groups[g].Lr = _next[g];
            _lastLr[g] = _next[g];
        }
    }

    /// <summary>Runs the construction-time step (call at the end of each schedule's constructor).</summary>
    private protected void InitialStep() => Step();

    /// <summary>Throws if the schedule cannot go to <paramref name="epoch"/> (OneCycleLR past its total steps).</summary>
    private protected virtual void CheckCanStep(int epoch) { }

    /// <summary>Group <paramref name="g"/>'s learning rate for <paramref name="epoch"/>. Every group's is computed before any is written,
    /// so <see cref="GroupLr"/> reads the previous epoch's.</summary>
    private protected abstract double ComputeLr(int epoch, int g);

    /// <summary>The current learning rate of group <paramref name="g"/>.</summary>
    private protected double GroupLr(int g) => Optimizer.ParamGroups[g].Lr ?? throw new InvalidOperationException($"ParamGroups[{g}].Lr is null.");

    /// <summary>
    /// The schedule's progress as text (for safetensors metadata, next to the optimiser's): <c>last_epoch</c>,
    /// <c>_step_count</c>, <c>base_lrs</c>, <c>_last_lr</c> (PyTorch's names).
    /// </summary>
    public Dictionary<string, string> StateDict() => new()
    {
        ["last_epoch"] = LastEpoch.ToString(CultureInfo.InvariantCulture),
        ["_step_count"] = StepCount.ToString(CultureInfo.InvariantCulture),
        ["base_lrs"] = List(_baseLrs),
        ["_last_lr"] = List(_lastLr),
    };

    /// <summary>
    /// Restores progress saved by <see cref="StateDict"/> (the optimiser's groups keep the learning rates its own
    /// state dict restored). Throws <see cref="ArgumentException"/> naming a missing or malformed entry, or a group count mismatch.
    /// </summary>
    /// <param name="state">The entries written by <see cref="StateDict"/>.</param>
    public void LoadStateDict(IReadOnlyDictionary<string, string> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int lastEpoch = Int(state, "last_epoch"), stepCount = Int(state, "_step_count");
        double[] baseLrs = Doubles(state, "base_lrs"), lastLr = Doubles(state, "_last_lr");
        baseLrs.CopyTo(_baseLrs, 0);
        lastLr.CopyTo(_lastLr, 0);
        LastEpoch = lastEpoch;
        StepCount = stepCount;
    }

    private static string List(double[] values) => "[" + string.Join(",", values.Select(HyperParameters.Format)) + "]";

    private static string Entry(IReadOnlyDictionary<string, string> state, string key) =>
        state.TryGetValue(key, out var text) ? text : throw new ArgumentException($"The schedule state has no '{key}' entry.", nameof(state));

    private static int Int(IReadOnlyDictionary<string, string> state, string key) =>
        int.TryParse(Entry(state, key), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) && v >= -1
            ? v : throw new ArgumentException($"The schedule state's '{key}' is '{state[key]}', expected a whole number ≥ -1.", nameof(state));

    private double[] Doubles(IReadOnlyDictionary<string, string> state, string key)
    {
        var parts = Entry(state, key).Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries);
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                throw new ArgumentException($"The schedule state's '{key}' has '{parts[i]}', which is not a number.", nameof(state));
        if (values.Length != _baseLrs.Length)
            throw new ArgumentException($"The schedule state's '{key}' has {values.Length} value(s), expected {_baseLrs.Length} (one per parameter group).", nameof(state));
        return values;
    }
}

/// <summary>Argument checks shared by the schedules.</summary>
internal static class Schedules
{
    /// <summary>Returns <paramref name="value"/>; throws unless it is finite and ≥ 0.</summary>
    public static double NonNegative(double value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!(double.IsFinite(value) && value >= 0))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number ≥ 0, got {HyperParameters.Format(value)}.");
        return value;
    }

    /// <summary>Returns <paramref name="value"/>; throws unless it is finite and &gt; 0.</summary>
    public static double Positive(double value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!(double.IsFinite(value) && value > 0))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0, got {HyperParameters.Format(value)}.");
        return value;
    }
}
