// RMSprop (Hinton's lecture 6e; the centred form of Graves 2013) as PyTorch 1.13's torch.optim.RMSprop
// computes it (single-tensor path).
//
// For each parameter θ with gradient g; learning rate γ, smoothing α, ε, weight decay λ, momentum μ:
//     g ← −g if maximize
//     g ← g + λ·θ                              (λ ≠ 0)
//     s ← α·s + (1 − α)·g²                     running mean of g² (square_avg)
//     centred:  ḡ ← α·ḡ + (1 − α)·g            running mean of g (grad_avg)
//               a ← √(s − ḡ²) + ε              normalise by an estimate of the standard deviation
//     else:     a ← √s + ε
//     μ > 0:    b ← μ·b + g / a;  θ ← θ − γ·b  (momentum_buffer)
//     else:     θ ← θ − γ·g / a
// State: step (counted, unused by the rule), square_avg, momentum_buffer (μ > 0), grad_avg (centred).
// Defaults: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered false, maximize false.
// Row-sparse gradients are not supported (nor are they by PyTorch's RMSprop).
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>
/// RMSprop with optional centring, momentum and weight decay (PyTorch's <c>torch.optim.RMSprop</c>, same update and defaults).
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public sealed class RmsProp<T> : Optimizer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int SquareAvg = 0, MomentumBuffer = 1, GradAvg = 2;
    private static readonly string[] s_stateNames = ["square_avg", "momentum_buffer", "grad_avg"];

    private Coefficients _c;
    private T[] _s = [];
    private T[]? _b, _gAvg;

    /// <summary>RMSprop over one list of parameters.</summary>
    /// <param name="parameters">The parameters to optimise; none twice, at least one, none with a row-sparse gradient.</param>
    /// <param name="lr">Learning rate γ &gt; 0.</param>
    /// <param name="alpha">Smoothing constant α ∈ [0, 1].</param>
    /// <param name="eps">ε &gt; 0 added to the denominator.</param>
    /// <param name="weightDecay">L2 weight decay λ ≥ 0.</param>
    /// <param name="momentum">Momentum μ ≥ 0.</param>
    /// <param name="centered">Normalise by the estimated variance instead of the second moment.</param>
    /// <param name="maximize">Ascend instead of descend.</param>
    /// <exception cref="ArgumentException">A parameter is null, given twice, or has a row-sparse gradient, or the list is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public RmsProp(IEnumerable<Parameter<T>> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weightDecay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : base(SingleGroup(parameters), Defaults(lr, alpha, eps, weightDecay, momentum, centered, maximize), nameof(parameters), singleList: true)
    {
    }

    /// <summary>RMSprop over parameter groups; a group's own hyperparameters override these defaults.</summary>
    /// <param name="paramGroups">The groups.</param>
    /// <param name="lr">Default learning rate γ &gt; 0.</param>
    /// <param name="alpha">Default α ∈ [0, 1].</param>
    /// <param name="eps">Default ε &gt; 0.</param>
    /// <param name="weightDecay">Default L2 weight decay λ ≥ 0.</param>
    /// <param name="momentum">Default momentum μ ≥ 0.</param>
    /// <param name="centered">Default for centring.</param>
    /// <param name="maximize">Default for ascending.</param>
    /// <exception cref="ArgumentException">A parameter is given twice or has a row-sparse gradient, there are no parameters, or a group sets a hyperparameter RMSprop does not have.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public RmsProp(IEnumerable<ParamGroup<T>> paramGroups, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weightDecay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : base(paramGroups, Defaults(lr, alpha, eps, weightDecay, momentum, centered, maximize), nameof(paramGroups), singleList: false)
    {
    }

    private static HyperDefaults Defaults(double lr, double alpha, double eps, double weightDecay, double momentum, bool centered, bool maximize) =>
        new([(Hyper.Lr, lr), (Hyper.Alpha, alpha), (Hyper.Eps, eps), (Hyper.WeightDecay, weightDecay), (Hyper.Momentum, momentum),
            (Hyper.Centered, centered ? 1 : 0), (Hyper.Maximize, maximize ? 1 : 0)]);

    private protected override string[] StateNames => s_stateNames;

    private protected override bool RequiresSlot(int slot, ParamGroup group) => slot switch
    {
        MomentumBuffer => group.Momentum > 0,
        GradAvg => group.Centered == true,
        _ => true,
    };

    private protected override string? SparseProblem(ParamGroup group) =>
        "RmsProp does not support row-sparse gradients (PyTorch's RMSprop neither); use Adam, AdamW, Adagrad or Sgd, or a dense gradient.";

    private protected override void StepDense(ParamGroup group, int groupIndex, Parameter<T> parameter, ParameterState<T> state)
    {
        state.Step++;
        _c = new Coefficients(group, groupIndex);
        _s = Buffer(state, SquareAvg, parameter);
        _b = _c.HasMomentum ? Buffer(state, MomentumBuffer, parameter) : null;
        _gAvg = _c.Centered ? Buffer(state, GradAvg, parameter) : null;
        RunRange(parameter);
        _s = [];
        _b = _gAvg = null;
    }

    private protected override void UpdateRange(int start, int count)
    {
        var k = new Kernel(_c, ref Theta[start], ref Grad[start], ref _s[start], ref Lanes<T>.At(_b, start), ref Lanes<T>.At(_gAvg, start));
        Lanes<T>.Run(ref k, count);
    }

    private protected override void StepSparse(ParamGroup group, int groupIndex, Parameter<T> parameter, RowSparseGradient<T> gradient, ParameterState<T> state) =>
        throw new System.Diagnostics.UnreachableException("SparseProblem rejects row-sparse gradients before StepSparse.");

    /// <summary>The step's hyperparameters in <typeparamref name="T"/>.</summary>
    private readonly struct Coefficients
    {
        public readonly GradientTerms<T> Terms;
        public readonly T Alpha, OneMinusAlpha, Eps, Momentum, NegLr;
        public readonly bool HasMomentum, Centered;

        public Coefficients(ParamGroup g, int groupIndex)
        {
            double alpha = g.Value(Hyper.Alpha, groupIndex), momentum = g.Value(Hyper.Momentum, groupIndex);
            Terms = new GradientTerms<T>(g, groupIndex, g.Value(Hyper.WeightDecay, groupIndex));
            Alpha = T.CreateTruncating(alpha);
            OneMinusAlpha = T.CreateTruncating(1 - alpha);
            Eps = T.CreateTruncating(g.Value(Hyper.Eps, groupIndex));
            Momentum = T.CreateTruncating(momentum);
            NegLr = T.CreateTruncating(-g.Value(Hyper.Lr, groupIndex));
            HasMomentum = momentum > 0;
            Centered = g.Flag(Hyper.Centered, groupIndex);
        }
    }

    /// <summary>The update of the file header over one element range.</summary>
    private ref struct Kernel(in Coefficients c, ref T p, ref T g, ref T s, ref T b, ref T gAvg) : IElementwiseKernel<T>
    {
        private readonly Coefficients _c = c;
        private readonly ref T _p = ref p, _g = ref g, _s = ref s, _b = ref b, _gAvg = ref gAvg;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Apply<TL>(int i) where TL : struct, ILane<TL, T>
        {
            var g = _c.Terms.Gradient(ref _p, ref _g, i, out TL theta);
            var s = TL.Broadcast(_c.Alpha) * TL.Load(ref _s, i) + TL.Broadcast(_c.OneMinusAlpha) * g * g;
            TL.Store(s, ref _s, i);
            if (_c.Centered)
            {
                var gAvg = TL.Broadcast(_c.Alpha) * TL.Load(ref _gAvg, i) + TL.Broadcast(_c.OneMinusAlpha) * g;
                TL.Store(gAvg, ref _gAvg, i);
                s -= gAvg * gAvg;
            }
            var a = TL.Sqrt(s) + TL.Broadcast(_c.Eps);
            var step = g / a;
            if (_c.HasMomentum)
            {
                step = TL.Broadcast(_c.Momentum) * TL.Load(ref _b, i) + step;
                TL.Store(step, ref _b, i);
            }
            TL.Store(theta + TL.Broadcast(_c.NegLr) * step, ref _p, i);
        }
    }
}
