// A parameter group: some parameters plus the hyperparameters an optimiser uses for them (PyTorch's
// param_groups entries). nanoGPT, for example, gives an AdamW two groups so that biases and norm
// weights are not decayed:
//     new AdamW<float>([new ParamGroup<float>(matrices) { WeightDecay = 0.1 },
//                       new ParamGroup<float>(biasesAndNorms) { WeightDecay = 0 }], lr: 6e-4, betas: (0.9, 0.95));
//
// A hyperparameter left null takes the optimiser's default when the group is given to the optimiser
// (PyTorch's param_group.setdefault); from then on every hyperparameter of that optimiser is set in
// the group. Schedules write Lr (and OneCycleLR Momentum or Betas) between steps, as PyTorch's do.
// Setting a hyperparameter the optimiser does not have (Momentum on an Adam group) is an error.
//
// Ranges (checked when set; NaN and ±∞ are always rejected):
//     Lr ≥ 0 (an optimiser's constructor asks for > 0; a schedule may reach 0)   WeightDecay ≥ 0
//     Momentum ≥ 0   Dampening ∈ [0, 1]   Betas ∈ [0, 1)²   Eps > 0   Alpha ∈ [0, 1]
//     LrDecay ≥ 0    InitialAccumulatorValue ≥ 0   InitialLr ≥ 0
// PyTorch checks fewer of these (it accepts eps = 0, any dampening and alpha ≥ 0).
using System.Globalization;

namespace NeuralPrimitives;

/// <summary>
/// The hyperparameters of a parameter group (PyTorch's <c>param_groups</c> entries without the parameters).
/// A null value means "the optimiser's default" until the group is given to an optimiser, which fills in every
/// hyperparameter it has. Learning-rate schedules write <see cref="Lr"/>. See <see cref="ParamGroup{T}"/>.
/// </summary>
public abstract class ParamGroup
{
    private readonly double?[] _values = new double?[(int)Hyper.Count];

    private protected ParamGroup() { }

    /// <summary>Learning rate γ (PyTorch <c>lr</c>), ≥ 0 and finite. Schedules write it before each step.</summary>
    public double? Lr { get => Get(Hyper.Lr); set => SetReal(Hyper.Lr, value, nameof(Lr)); }

    /// <summary>Weight decay λ (PyTorch <c>weight_decay</c>), ≥ 0: an L2 term λθ added to the gradient, or AdamW's decoupled θ ← θ(1 − γλ).</summary>
    public double? WeightDecay { get => Get(Hyper.WeightDecay); set => SetReal(Hyper.WeightDecay, value, nameof(WeightDecay)); }

    /// <summary>Momentum μ (SGD, RMSprop), ≥ 0.</summary>
    public double? Momentum { get => Get(Hyper.Momentum); set => SetReal(Hyper.Momentum, value, nameof(Momentum)); }

    /// <summary>SGD's dampening τ ∈ [0, 1]: the momentum buffer adds (1 − τ)·g.</summary>
    public double? Dampening { get => Get(Hyper.Dampening); set => SetReal(Hyper.Dampening, value, nameof(Dampening)); }

    /// <summary>SGD's Nesterov momentum (needs momentum &gt; 0 and dampening 0).</summary>
    public bool? Nesterov { get => GetBool(Hyper.Nesterov); set => SetBool(Hyper.Nesterov, value); }

    /// <summary>Adam's (β1, β2), each in [0, 1): decay rates of the first and second moment averages.</summary>
    public (double Beta1, double Beta2)? Betas
    {
        get => Get(Hyper.Beta1) is double b1 && Get(Hyper.Beta2) is double b2 ? (b1, b2) : null;
        set
        {
            if (value is (double b1, double b2))
            {
                HyperParameters.Check(Hyper.Beta1, b1, nameof(Betas), "Betas.Beta1", strictLr: false);
                HyperParameters.Check(Hyper.Beta2, b2, nameof(Betas), "Betas.Beta2", strictLr: false);
            }
            _values[(int)Hyper.Beta1] = value?.Beta1;
            _values[(int)Hyper.Beta2] = value?.Beta2;
        }
    }

    /// <summary>The term ε &gt; 0 added to a denominator (Adam, RMSprop, Adagrad).</summary>
    public double? Eps { get => Get(Hyper.Eps); set => SetReal(Hyper.Eps, value, nameof(Eps)); }

    /// <summary>Adam's AMSGrad variant (divide by the running maximum of the second moment).</summary>
    public bool? Amsgrad { get => GetBool(Hyper.Amsgrad); set => SetBool(Hyper.Amsgrad, value); }

    /// <summary>RMSprop's smoothing constant α ∈ [0, 1] of the squared-gradient average.</summary>
    public double? Alpha { get => Get(Hyper.Alpha); set => SetReal(Hyper.Alpha, value, nameof(Alpha)); }

    /// <summary>RMSprop's centred variant (normalise by an estimate of the gradient's variance).</summary>
    public bool? Centered { get => GetBool(Hyper.Centered); set => SetBool(Hyper.Centered, value); }

    /// <summary>Adagrad's learning-rate decay η ≥ 0: step t uses γ / (1 + (t − 1)·η).</summary>
    public double? LrDecay { get => Get(Hyper.LrDecay); set => SetReal(Hyper.LrDecay, value, nameof(LrDecay)); }

    /// <summary>Adagrad's starting value (≥ 0) of the sum of squared gradients.</summary>
    public double? InitialAccumulatorValue
    {
        get => Get(Hyper.InitialAccumulatorValue);
        set => SetReal(Hyper.InitialAccumulatorValue, value, nameof(InitialAccumulatorValue));
    }

    /// <summary>Step uphill: use −g instead of g (PyTorch <c>maximize</c>).</summary>
    public bool? Maximize { get => GetBool(Hyper.Maximize); set => SetBool(Hyper.Maximize, value); }

    /// <summary>The learning rate a schedule started from (PyTorch's <c>initial_lr</c>, written by the first schedule attached to the optimiser).</summary>
    public double? InitialLr { get => Get(Hyper.InitialLr); set => SetReal(Hyper.InitialLr, value, nameof(InitialLr)); }

    internal double? Get(Hyper h) => _values[(int)h];

    internal void Set(Hyper h, double? value) => _values[(int)h] = value;

    private bool? GetBool(Hyper h) => _values[(int)h] is double v ? v != 0 : null;

    private void SetBool(Hyper h, bool? value) => _values[(int)h] = value is bool b ? (b ? 1 : 0) : null;

    private void SetReal(Hyper h, double? value, string property)
    {
        if (value is double v) HyperParameters.Check(h, v, property, property, strictLr: false);
        _values[(int)h] = value;
    }

    /// <summary>The value of a hyperparameter that the optimiser has filled in (throws if a user reset it to null).</summary>
    internal double Value(Hyper h, int groupIndex) => _values[(int)h] ??
        throw new InvalidOperationException($"ParamGroups[{groupIndex}].{HyperParameters.PropertyName(h)} is null; the optimiser needs a value (it was set to null after construction).");

    internal bool Flag(Hyper h, int groupIndex) => Value(h, groupIndex) != 0;
}

/// <summary>
/// A parameter group: parameters plus the hyperparameters the optimiser uses for them (PyTorch's <c>param_groups</c> entry).
/// Hyperparameters left null take the optimiser's defaults.
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
/// <example><code>
/// var decay = model.Parameters().Where(p => p.Shape.Length >= 2);
/// var noDecay = model.Parameters().Where(p => p.Shape.Length &lt; 2);
/// var opt = new AdamW&lt;float&gt;([new ParamGroup&lt;float&gt;(decay) { WeightDecay = 0.1 },
///                              new ParamGroup&lt;float&gt;(noDecay) { WeightDecay = 0 }], lr: 6e-4);
/// </code></example>
public sealed class ParamGroup<T> : ParamGroup where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates a group over <paramref name="parameters"/> (copied into a list; may be empty).</summary>
    /// <param name="parameters">The group's parameters, in order (their order fixes PyTorch's state indices).</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> is null.</exception>
    public ParamGroup(IEnumerable<Parameter<T>> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToArray();
    }

    /// <summary>The group's parameters, in order.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }
}

/// <summary>Every hyperparameter a group can hold. Betas take two slots.</summary>
internal enum Hyper
{
    Lr, WeightDecay, Momentum, Dampening, Nesterov, Beta1, Beta2, Eps, Amsgrad, Alpha, Centered, LrDecay,
    InitialAccumulatorValue, Maximize, InitialLr, Count,
}

/// <summary>Names, ranges and text form (for state-dict metadata) of the hyperparameters.</summary>
internal static class HyperParameters
{
    private enum Kind { Real, Bool, Pair }

    private readonly record struct Info(string TorchName, string Property, Kind Kind, double Min, bool MinOpen, double Max, bool MaxOpen);

    private static readonly Info[] s_info = BuildInfo();

    private static Info[] BuildInfo()
    {
        var info = new Info[(int)Hyper.Count];
        const double inf = double.PositiveInfinity;
        info[(int)Hyper.Lr] = new("lr", "Lr", Kind.Real, 0, false, inf, false);
        info[(int)Hyper.WeightDecay] = new("weight_decay", "WeightDecay", Kind.Real, 0, false, inf, false);
        info[(int)Hyper.Momentum] = new("momentum", "Momentum", Kind.Real, 0, false, inf, false);
        info[(int)Hyper.Dampening] = new("dampening", "Dampening", Kind.Real, 0, false, 1, false);
        info[(int)Hyper.Nesterov] = new("nesterov", "Nesterov", Kind.Bool, 0, false, 1, false);
        info[(int)Hyper.Beta1] = new("betas", "Betas", Kind.Pair, 0, false, 1, true);
        info[(int)Hyper.Beta2] = new("betas", "Betas", Kind.Pair, 0, false, 1, true);
        info[(int)Hyper.Eps] = new("eps", "Eps", Kind.Real, 0, true, inf, false);
        info[(int)Hyper.Amsgrad] = new("amsgrad", "Amsgrad", Kind.Bool, 0, false, 1, false);
        info[(int)Hyper.Alpha] = new("alpha", "Alpha", Kind.Real, 0, false, 1, false);
        info[(int)Hyper.Centered] = new("centered", "Centered", Kind.Bool, 0, false, 1, false);
        info[(int)Hyper.LrDecay] = new("lr_decay", "LrDecay", Kind.Real, 0, false, inf, false);
        info[(int)Hyper.InitialAccumulatorValue] = new("initial_accumulator_value", "InitialAccumulatorValue", Kind.Real, 0, false, inf, false);
        info[(int)Hyper.Maximize] = new("maximize", "Maximize", Kind.Bool, 0, false, 1, false);
        info[(int)Hyper.InitialLr] = new("initial_lr", "InitialLr", Kind.Real, 0, false, inf, false);
        return info;
    }

    public static string PropertyName(Hyper h) => s_info[(int)h].Property;

    /// <summary>The name of an optimiser constructor's argument for <paramref name="h"/>: the property's, camel-cased (<c>weightDecay</c>, <c>betas</c>).</summary>
    public static string ArgumentName(Hyper h) => char.ToLowerInvariant(PropertyName(h)[0]) + PropertyName(h)[1..];

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> (ParamName <paramref name="paramName"/>) with the message of
    /// <see cref="Problem"/> unless <paramref name="value"/> is finite and in range.
    /// </summary>
    public static void Check(Hyper h, double value, string paramName, string label, bool strictLr)
    {
        if (Problem(h, value, label, strictLr) is string message) throw new ArgumentOutOfRangeException(paramName, value, message);
    }

    /// <summary>
    /// Null when <paramref name="value"/> is finite and in range; otherwise a message naming <paramref name="label"/>
    /// with the expected range and the value. With <paramref name="strictLr"/> a learning rate must be &gt; 0, as the
    /// optimisers' constructors require (PyTorch accepts 0).
    /// </summary>
    public static string? Problem(Hyper h, double value, string label, bool strictLr)
    {
        var i = s_info[(int)h];
        bool minOpen = i.MinOpen || (strictLr && h == Hyper.Lr);
        bool ok = double.IsFinite(value)
            && (minOpen ? value > i.Min : value >= i.Min)
            && (i.MaxOpen ? value < i.Max : value <= i.Max);
        if (ok) return null;
        string range = (minOpen ? "(" : "[") + Format(i.Min) + ", " + (double.IsInfinity(i.Max) ? "∞)" : Format(i.Max) + (i.MaxOpen ? ")" : "]"));
        return $"{label} must be a finite number in {range}, got {Format(value)}.";
    }

    /// <summary>The hyperparameters set in <paramref name="group"/> as PyTorch-named text (<c>lr</c> → <c>0.001</c>, <c>betas</c> → <c>[0.9,0.999]</c>).</summary>
    public static IEnumerable<(string Name, string Value)> ToText(ParamGroup group)
    {
        for (var h = (Hyper)0; h < Hyper.Count; h++)
        {
            if (group.Get(h) is not double v || h == Hyper.Beta2) continue;
            var i = s_info[(int)h];
            yield return (i.TorchName, i.Kind switch
            {
                Kind.Bool => v != 0 ? "true" : "false",
                Kind.Pair => $"[{Format(v)},{Format(group.Get(Hyper.Beta2) ?? double.NaN)}]",
                _ => Format(v),
            });
        }
    }

    /// <summary>Every hyperparameter slot with its PyTorch name (betas once, for Beta1).</summary>
    public static IEnumerable<(Hyper Hyper, string TorchName)> Named()
    {
        for (var h = (Hyper)0; h < Hyper.Count; h++)
            if (h != Hyper.Beta2) yield return (h, s_info[(int)h].TorchName);
    }

    /// <summary>Parses <paramref name="text"/> (as written by <see cref="ToText"/>) into <paramref name="group"/>; false if malformed.</summary>
    public static bool TryParse(Hyper h, string text, ParamGroup group)
    {
        var kind = s_info[(int)h].Kind;
        if (kind == Kind.Bool)
        {
            if (text is not ("true" or "false")) return false;
            group.Set(h, text == "true" ? 1 : 0);
            return true;
        }
        if (kind == Kind.Pair)
        {
            var parts = text.Trim('[', ']').Split(',');
            if (parts.Length != 2 || !TryNumber(parts[0], out double b1) || !TryNumber(parts[1], out double b2)) return false;
            group.Set(Hyper.Beta1, b1);
            group.Set(Hyper.Beta2, b2);
            return true;
        }
        if (!TryNumber(text, out double v)) return false;
        group.Set(h, v);
        return true;
    }

    private static bool TryNumber(string s, out double v) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v);

    /// <summary>Shortest round-trip text of a double (invariant culture).</summary>
    public static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
