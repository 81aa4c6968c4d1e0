// Adagrad (Duchi, Hazan & Singer 2011) as PyTorch 1.13's torch.optim.Adagrad computes it (single-tensor path).
//
// For each parameter θ with gradient g; learning rate γ, learning-rate decay η, weight decay λ, ε;
// t = the parameter's step count after incrementing it:
//     g ← −g if maximize
//     g ← g + λ·θ                              (λ ≠ 0)
//     γ_t = γ / (1 + (t − 1)·η)
//     s ← s + g²                               sum of squared gradients, starting at initial_accumulator_value
//     θ ← θ − γ_t · g / (√s + ε)
// State: step and sum, created for every parameter at construction (as PyTorch does). A group's own
// initial_accumulator_value starts its parameters' sums (PyTorch 1.13 uses the constructor's value for
// every group, ignoring the group's; we do not copy that).
// Defaults: lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0, eps 1e-10, maximize false.
//
// Row-sparse gradients (PyTorch's sparse Adagrad): only the touched rows r update s_r and θ_r, with the same
// formulas; the step count (and so γ_t) advances at every Step. Weight decay with a sparse gradient (which
// PyTorch refuses) is applied lazily: λ·θ_r is added to the touched rows' gradients only.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>
/// Adagrad with optional learning-rate decay and weight decay (PyTorch's <c>torch.optim.Adagrad</c>, same update and defaults),
/// for dense and row-sparse gradients (only touched rows are updated).
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public sealed class Adagrad<T> : Optimizer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int Sum = 0;
    private static readonly string[] s_stateNames = ["sum"];

    private Coefficients _c;
    private T[] _s = [];

    /// <summary>Adagrad over one list of parameters.</summary>
    /// <param name="parameters">The parameters to optimise; none twice, at least one.</param>
    /// <param name="lr">Learning rate γ &gt; 0.</param>
    /// <param name="lrDecay">Learning-rate decay η ≥ 0.</param>
    /// <param name="weightDecay">L2 weight decay λ ≥ 0.</param>
    /// <param name="initialAccumulatorValue">Starting value (≥ 0) of the sum of squared gradients.</param>
    /// <param name="eps">ε &gt; 0 added to the denominator.</param>
    /// <param name="maximize">Ascend instead of descend.</param>
    /// <exception cref="ArgumentException">A parameter is null or given twice, or the list is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public Adagrad(IEnumerable<Parameter<T>> parameters, double lr = 1e-2, double lrDecay = 0, double weightDecay = 0,
        double initialAccumulatorValue = 0, double eps = 1e-10, bool maximize = false)
        : base(SingleGroup(parameters), Defaults(lr, lrDecay, weightDecay, initialAccumulatorValue, eps, maximize), nameof(parameters), singleList: true) =>
        CreateAllStates();

    /// <summary>Adagrad over parameter groups; a group's own hyperparameters override these defaults.</summary>
    /// <param name="paramGroups">The groups.</param>
    /// <param name="lr">Default learning rate γ &gt; 0.</param>
    /// <param name="lrDecay">Default learning-rate decay η ≥ 0.</param>
    /// <param name="weightDecay">Default L2 weight decay λ ≥ 0.</param>
    /// <param name="initialAccumulatorValue">Default starting value (≥ 0) of the sum.</param>
    /// <param name="eps">Default ε &gt; 0.</param>
    /// <param name="maximize">Default for ascending.</param>
    /// <exception cref="ArgumentException">A parameter is given twice, there are no parameters, or a group sets a hyperparameter Adagrad does not have.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public Adagrad(IEnumerable<ParamGroup<T>> paramGroups, double lr = 1e-2, double lrDecay = 0, double weightDecay = 0,
        double initialAccumulatorValue = 0, double eps = 1e-10, bool maximize = false)
        : base(paramGroups, Defaults(lr, lrDecay, weightDecay, initialAccumulatorValue, eps, maximize), nameof(paramGroups), singleList: false) =>
        CreateAllStates();

    private static HyperDefaults Defaults(double lr, double lrDecay, double weightDecay, double initialAccumulatorValue, double eps, bool maximize) =>
        new([(Hyper.Lr, lr), (Hyper.LrDecay, lrDecay), (Hyper.WeightDecay, weightDecay),
            (Hyper.InitialAccumulatorValue, initialAccumulatorValue), (Hyper.Eps, eps), (Hyper.Maximize, maximize ? 1 : 0)]);

    private protected override string[] StateNames => s_stateNames;

    private protected override bool RequiresSlot(int slot, ParamGroup group) => true;

    private protected override void InitializeState(ParameterState<T> state, Parameter<T> parameter, ParamGroup group) =>
        Buffer(state, Sum, parameter, group.InitialAccumulatorValue ?? 0);

    private protected override void StepDense(ParamGroup group, int groupIndex, Parameter<T> parameter, ParameterState<T> state)
    {
        _c = new Coefficients(group, groupIndex, ++state.Step);
        _s = Buffer(state, Sum, parameter);
        RunRange(parameter);
        _s = [];
    }

    private protected override void UpdateRange(int start, int count)
    {
        var k = new Kernel(_c, ref Theta[start], ref Grad[start], ref _s[start]);
        Lanes<T>.Run(ref k, count);
    }

    private protected override void StepSparse(ParamGroup group, int groupIndex, Parameter<T> parameter, RowSparseGradient<T> gradient, ParameterState<T> state)
    {
        var c = new Coefficients(group, groupIndex, ++state.Step);
        T[] sum = Buffer(state, Sum, parameter), p = parameter.Data;
        var rows = gradient.TouchedRows;
        int d = gradient.RowLength;
        for (int s = 0; s < rows.Length; s++)
        {
            int at = rows[s] * d;
            var k = new Kernel(c, ref p[at], ref MemoryMarshal.GetReference(gradient.SlotValues(s)), ref sum[at]);
            Lanes<T>.Run(ref k, d);
        }
    }

    /// <summary>The step's hyperparameters in <typeparamref name="T"/>.</summary>
    private readonly struct Coefficients
    {
        public readonly GradientTerms<T> Terms;
        public readonly T Eps, NegClr;

        public Coefficients(ParamGroup g, int groupIndex, long t)
        {
            double clr = g.Value(Hyper.Lr, groupIndex) / (1 + (t - 1) * g.Value(Hyper.LrDecay, groupIndex));
            Terms = new GradientTerms<T>(g, groupIndex, g.Value(Hyper.WeightDecay, groupIndex));
            Eps = T.CreateTruncating(g.Value(Hyper.Eps, groupIndex));
            NegClr = T.CreateTruncating(-clr);
        }
    }

    /// <summary>The update of the file header over one element range (or one touched row).</summary>
    private ref struct Kernel(in Coefficients c, ref T p, ref T g, ref T s) : IElementwiseKernel<T>
    {
        private readonly Coefficients _c = c;
        private readonly ref T _p = ref p, _g = ref g, _s = ref s;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Apply<TL>(int i) where TL : struct, ILane<TL, T>
        {
            var g = _c.Terms.Gradient(ref _p, ref _g, i, out TL theta);
            var s = TL.Load(ref _s, i) + g * g;
            TL.Store(s, ref _s, i);
            TL.Store(theta + TL.Broadcast(_c.NegClr) * (g / (TL.Sqrt(s) + TL.Broadcast(_c.Eps))), ref _p, i);
        }
    }
}
