// Adam (Kingma & Ba 2015) as PyTorch 1.13's torch.optim.Adam computes it (single-tensor path), and the
// kernel AdamW shares (AdamW.cs: the same update with decoupled weight decay).
//
// For each parameter θ with gradient g; learning rate γ, betas (β1, β2), ε, weight decay λ; t = the
// parameter's step count after incrementing it (1 at its first update):
//     g ← −g if maximize
//     g ← g + λ·θ                              Adam: an L2 penalty, coupled to the gradient (λ ≠ 0)
//     θ ← θ·(1 − γλ)                           AdamW instead: decoupled weight decay, before the update
//     m ← β1·m + (1 − β1)·g                    first moment (exp_avg)
//     v ← β2·v + (1 − β2)·g²                   second moment (exp_avg_sq)
//     v̂ ← max(v̂, v)                            AMSGrad only (max_exp_avg_sq); then v̂ replaces v below
//     bc1 = 1 − β1ᵗ,  bc2 = 1 − β2ᵗ             bias corrections (moments start at 0)
//     θ ← θ − (γ / bc1) · m / (√v / √bc2 + ε)
// State: step, exp_avg, exp_avg_sq (+ max_exp_avg_sq with AMSGrad).
// Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (AdamW: 1e-2), amsgrad false, maximize false.
//
// Row-sparse gradients (Embedding(sparse: true)) follow torch.optim.SparseAdam's lazy rule: only the rows
// r that received a gradient update their moments and their values; other rows keep m, v and θ as they are
// (dense Adam would keep moving them with the decaying m):
//     m_r ← m_r + (1 − β1)·(g_r − m_r)         (the same average, written as SparseAdam writes it)
//     v_r ← v_r + (1 − β2)·(g_r² − v_r)
//     θ_r ← θ_r − (γ·√bc2 / bc1) · m_r / (√v_r + ε)     (ε is not scaled by √bc2, unlike dense Adam)
// The step count t is the parameter's (it advances at every Step, even one that touches no row), not a
// per-row count, as in SparseAdam: a row first touched at step 100 gets bc1 = 1 − β1¹⁰⁰ ≈ 1, so its first
// update is about (1 − β1)·γ·g/(|g| + ε) rather than γ·sign(g).
// Weight decay (SparseAdam has none) is lazy too: Adam adds λ·θ_r to the touched rows' gradients, AdamW
// multiplies only the touched rows by (1 − γλ). AMSGrad is not supported with row-sparse gradients.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>
/// Adam with optional L2 weight decay and AMSGrad (PyTorch's <c>torch.optim.Adam</c>, same update and defaults). Row-sparse
/// gradients follow <c>torch.optim.SparseAdam</c>'s lazy rule (see the file header). For decoupled weight decay use <see cref="AdamW{T}"/>.
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public class Adam<T> : Optimizer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int ExpAvg = 0, ExpAvgSq = 1, MaxExpAvgSq = 2;
    private static readonly string[] s_stateNames = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    private readonly bool _decoupled;
    private Coefficients _c;
    private T[] _m = [], _v = [];
    private T[]? _vMax;

    /// <summary>Adam over one list of parameters.</summary>
    /// <param name="parameters">The parameters to optimise; none twice, at least one.</param>
    /// <param name="lr">Learning rate γ &gt; 0.</param>
    /// <param name="betas">(β1, β2), each in [0, 1); null for PyTorch's (0.9, 0.999).</param>
    /// <param name="eps">ε &gt; 0 added to the denominator.</param>
    /// <param name="weightDecay">L2 weight decay λ ≥ 0, added to the gradient.</param>
    /// <param name="amsgrad">Use the running maximum of the second moment (AMSGrad).</param>
    /// <param name="maximize">Ascend instead of descend.</param>
    /// <exception cref="ArgumentException">A parameter is null or given twice, or the list is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public Adam(IEnumerable<Parameter<T>> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null,
        double eps = 1e-8, double weightDecay = 0, bool amsgrad = false, bool maximize = false)
        : this(SingleGroup(parameters), Defaults(lr, betas, eps, weightDecay, amsgrad, maximize), nameof(parameters), true, decoupled: false)
    {
    }

    /// <summary>Adam over parameter groups; a group's own hyperparameters override these defaults.</summary>
    /// <param name="paramGroups">The groups.</param>
    /// <param name="lr">Default learning rate γ &gt; 0.</param>
    /// <param name="betas">Default (β1, β2); null for (0.9, 0.999).</param>
    /// <param name="eps">Default ε &gt; 0.</param>
    /// <param name="weightDecay">Default L2 weight decay λ ≥ 0.</param>
    /// <param name="amsgrad">Default for AMSGrad.</param>
    /// <param name="maximize">Default for ascending.</param>
    /// <exception cref="ArgumentException">A parameter is given twice, there are no parameters, or a group sets a hyperparameter Adam does not have.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public Adam(IEnumerable<ParamGroup<T>> paramGroups, double lr = 1e-3, (double Beta1, double Beta2)? betas = null,
        double eps = 1e-8, double weightDecay = 0, bool amsgrad = false, bool maximize = false)
        : this(paramGroups, Defaults(lr, betas, eps, weightDecay, amsgrad, maximize), nameof(paramGroups), false, decoupled: false)
    {
    }

    private protected Adam(IEnumerable<ParamGroup<T>> groups, HyperDefaults defaults, string argument, bool singleList, bool decoupled)
        : base(groups, defaults, argument, singleList) => _decoupled = decoupled;

    private protected static HyperDefaults Defaults(double lr, (double Beta1, double Beta2)? betas, double eps, double weightDecay, bool amsgrad, bool maximize)
    {
        var (beta1, beta2) = betas ?? (0.9, 0.999);
        return new([(Hyper.Lr, lr), (Hyper.Beta1, beta1), (Hyper.Beta2, beta2), (Hyper.Eps, eps), (Hyper.WeightDecay, weightDecay),
            (Hyper.Amsgrad, amsgrad ? 1 : 0), (Hyper.Maximize, maximize ? 1 : 0)]);
    }

    private protected override string[] StateNames => s_stateNames;

    private protected override bool RequiresSlot(int slot, ParamGroup group) => slot != MaxExpAvgSq || group.Amsgrad == true;

    private protected override string? SparseProblem(ParamGroup group) =>
        group.Amsgrad == true ? "AMSGrad is not supported with row-sparse gradients (SparseAdam's lazy rule has no running maximum); set Amsgrad to false or use a dense gradient." : null;

    private protected override void StepDense(ParamGroup group, int groupIndex, Parameter<T> parameter, ParameterState<T> state)
    {
        long t = ++state.Step;
        _c = new Coefficients(group, groupIndex, t, _decoupled, sparse: false);
        _m = Buffer(state, ExpAvg, parameter);
        _v = Buffer(state, ExpAvgSq, parameter);
        _vMax = _c.Amsgrad ? Buffer(state, MaxExpAvgSq, parameter) : null;
        RunRange(parameter);
        _m = _v = [];
        _vMax = null;
    }

    private protected override void UpdateRange(int start, int count)
    {
        var k = new DenseKernel(_c, ref Theta[start], ref Grad[start], ref _m[start], ref _v[start], ref Lanes<T>.At(_vMax, start));
        Lanes<T>.Run(ref k, count);
    }

    private protected override void StepSparse(ParamGroup group, int groupIndex, Parameter<T> parameter, RowSparseGradient<T> gradient, ParameterState<T> state)
    {
        long t = ++state.Step;
        var c = new Coefficients(group, groupIndex, t, _decoupled, sparse: true);
        T[] m = Buffer(state, ExpAvg, parameter), v = Buffer(state, ExpAvgSq, parameter), p = parameter.Data;
        var rows = gradient.TouchedRows;
        int d = gradient.RowLength;
        for (int s = 0; s < rows.Length; s++)
        {
            int at = rows[s] * d;
            var k = new LazyKernel(c, ref p[at], ref MemoryMarshal.GetReference(gradient.SlotValues(s)), ref m[at], ref v[at]);
            Lanes<T>.Run(ref k, d);
        }
    }

    /// <summary>The step's hyperparameters and bias corrections in <typeparamref name="T"/>.</summary>
    private readonly struct Coefficients
    {
        public readonly GradientTerms<T> Terms;
        public readonly T Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, Bc2Sqrt, Eps, NegStepSize;
        public readonly bool HasDecay, Amsgrad;

        public Coefficients(ParamGroup g, int groupIndex, long t, bool decoupled, bool sparse)
        {
            double lr = g.Value(Hyper.Lr, groupIndex), wd = g.Value(Hyper.WeightDecay, groupIndex);
            double b1 = g.Value(Hyper.Beta1, groupIndex), b2 = g.Value(Hyper.Beta2, groupIndex);
            double bc1 = 1 - Math.Pow(b1, t), bc2 = 1 - Math.Pow(b2, t);
            Terms = new GradientTerms<T>(g, groupIndex, decoupled ? 0 : wd);
            HasDecay = decoupled;                 // PyTorch's AdamW multiplies by 1 − γλ even when λ = 0
            Decay = T.CreateTruncating(1 - lr * wd);
            Beta1 = T.CreateTruncating(b1);
            OneMinusBeta1 = T.CreateTruncating(1 - b1);
            Beta2 = T.CreateTruncating(b2);
            OneMinusBeta2 = T.CreateTruncating(1 - b2);
            Bc2Sqrt = T.CreateTruncating(Math.Sqrt(bc2));
            Eps = T.CreateTruncating(g.Value(Hyper.Eps, groupIndex));
            NegStepSize = T.CreateTruncating(-(sparse ? lr * Math.Sqrt(bc2) / bc1 : lr / bc1));
            Amsgrad = g.Flag(Hyper.Amsgrad, groupIndex);
        }
    }

    /// <summary>Loads θ and g of one lane: g ← ±g (maximize), + λθ (Adam's L2); θ ← θ·(1 − γλ) (AdamW). Shared by both kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TL Gradient<TL>(in Coefficients c, ref T p, ref T grad, int i, out TL theta) where TL : struct, ILane<TL, T>
    {
        var g = c.Terms.Gradient(ref p, ref grad, i, out theta);
        if (c.HasDecay) theta *= TL.Broadcast(c.Decay);
        return g;
    }

    /// <summary>The dense update of the file header over one element range.</summary>
    private ref struct DenseKernel(in Coefficients c, ref T p, ref T g, ref T m, ref T v, ref T vMax) : IElementwiseKernel<T>
    {
        private readonly Coefficients _c = c;
        private readonly ref T _p = ref p, _g = ref g, _m = ref m, _v = ref v, _vMax = ref vMax;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Apply<TL>(int i) where TL : struct, ILane<TL, T>
        {
            var g = Gradient(_c, ref _p, ref _g, i, out TL theta);
            var m = TL.Broadcast(_c.Beta1) * TL.Load(ref _m, i) + TL.Broadcast(_c.OneMinusBeta1) * g;
            var v = TL.Broadcast(_c.Beta2) * TL.Load(ref _v, i) + TL.Broadcast(_c.OneMinusBeta2) * g * g;
            TL.Store(m, ref _m, i);
            TL.Store(v, ref _v, i);
            if (_c.Amsgrad)
            {
                v = TL.Max(TL.Load(ref _vMax, i), v);
                TL.Store(v, ref _vMax, i);
            }
            var denom = TL.Sqrt(v) / TL.Broadcast(_c.Bc2Sqrt) + TL.Broadcast(_c.Eps);
            TL.Store(theta + TL.Broadcast(_c.NegStepSize) * (m / denom), ref _p, i);
        }
    }

    /// <summary>SparseAdam's lazy update of one touched row (file header).</summary>
    private ref struct LazyKernel(in Coefficients c, ref T p, ref T g, ref T m, ref T v) : IElementwiseKernel<T>
    {
        private readonly Coefficients _c = c;
        private readonly ref T _p = ref p, _g = ref g, _m = ref m, _v = ref v;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Apply<TL>(int i) where TL : struct, ILane<TL, T>
        {
            var g = Gradient(_c, ref _p, ref _g, i, out TL theta);
            var m = TL.Load(ref _m, i);
            m += (g - m) * TL.Broadcast(_c.OneMinusBeta1);
            var v = TL.Load(ref _v, i);
            v += (g * g - v) * TL.Broadcast(_c.OneMinusBeta2);
            TL.Store(m, ref _m, i);
            TL.Store(v, ref _v, i);
            TL.Store(theta + TL.Broadcast(_c.NegStepSize) * (m / (TL.Sqrt(v) + TL.Broadcast(_c.Eps))), ref _p, i);
        }
    }
}
