// Stochastic gradient descent with momentum (PyTorch 1.13's torch.optim.SGD, single-tensor path).
//
// For each parameter θ with gradient g, learning rate γ, momentum μ, dampening τ, weight decay λ:
//     d ← −g if maximize, else g
//     d ← d + λ·θ                                  (λ ≠ 0: an L2 penalty ½λ‖θ‖² in the loss)
//     if μ ≠ 0:
//         b ← d                                    at the parameter's first step (the buffer starts as a copy)
//         b ← μ·b + (1 − τ)·d                      afterwards
//         d ← d + μ·b  (Nesterov)   or   d ← b
//     θ ← θ − γ·d
// State: momentum_buffer b (only when μ ≠ 0); no step count. Nesterov needs μ > 0 and τ = 0.
// Defaults: lr is required; momentum 0, dampening 0, weight_decay 0, nesterov false, maximize false.
//
// Row-sparse gradients (Embedding(sparse: true)): only the rows that received a gradient have d ≠ 0.
//   Without momentum only those rows change, θ_r ← θ_r − γ·d_r: O(touched rows).
//   With momentum PyTorch keeps a sparse buffer that it multiplies by μ every step, so every row that was
//   ever touched keeps moving, exactly as with a dense gradient (checked: dense and sparse runs agree).
//   We do the same: the rows ever touched are remembered, and each step updates them with d_r = 0 for
//   rows not touched now (b_r ← μ·b_r, θ_r ← θ_r − γ·(μ·b_r or b_r)). The cost grows with the rows touched
//   so far, not with the table. Rows never touched have b_r = 0 and stay unchanged.
//   Weight decay is applied lazily to the touched rows only (d_r = g_r + λ·θ_r); PyTorch refuses
//   weight decay with a sparse gradient. So a sparse run equals the dense run with the gradient
//   G + λ·θ⊙mask(touched rows) and weight decay 0.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay (PyTorch's
/// <c>torch.optim.SGD</c>, same update rule and defaults). Row-sparse gradients are supported (see the file header).
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int MomentumBuffer = 0;
    private static readonly string[] s_stateNames = ["momentum_buffer"];

    private Coefficients _c;
    private T[]? _b;

    /// <summary>SGD over one list of parameters.</summary>
    /// <param name="parameters">The parameters to optimise (e.g. <c>model.Parameters()</c>); none twice, at least one.</param>
    /// <param name="lr">Learning rate γ &gt; 0 (PyTorch requires it too; it also accepts 0, which this library rejects).</param>
    /// <param name="momentum">Momentum μ ≥ 0 (0: plain SGD).</param>
    /// <param name="dampening">Dampening τ ∈ [0, 1] of the momentum.</param>
    /// <param name="weightDecay">L2 weight decay λ ≥ 0.</param>
    /// <param name="nesterov">Nesterov momentum (needs μ &gt; 0 and τ = 0).</param>
    /// <param name="maximize">Ascend instead of descend.</param>
    /// <exception cref="ArgumentException">A parameter is null or given twice, the list is empty, or Nesterov is asked for without momentum or with dampening.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public Sgd(IEnumerable<Parameter<T>> parameters, double lr, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false, bool maximize = false)
        : base(SingleGroup(parameters), Defaults(lr, momentum, dampening, weightDecay, nesterov, maximize), nameof(parameters), singleList: true)
    {
    }

    /// <summary>SGD over parameter groups; a group's own hyperparameters override these defaults.</summary>
    /// <param name="paramGroups">The groups (e.g. one with weight decay, one without).</param>
    /// <param name="lr">Default learning rate γ &gt; 0.</param>
    /// <param name="momentum">Default momentum μ ≥ 0.</param>
    /// <param name="dampening">Default dampening τ ∈ [0, 1].</param>
    /// <param name="weightDecay">Default L2 weight decay λ ≥ 0.</param>
    /// <param name="nesterov">Default for Nesterov momentum.</param>
    /// <param name="maximize">Default for ascending.</param>
    /// <exception cref="ArgumentException">A parameter is given twice, there are no parameters, a group sets a hyperparameter SGD does not have, or a group's Nesterov setting is invalid.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public Sgd(IEnumerable<ParamGroup<T>> paramGroups, double lr, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false, bool maximize = false)
        : base(paramGroups, Defaults(lr, momentum, dampening, weightDecay, nesterov, maximize), nameof(paramGroups), singleList: false)
    {
    }

    private static HyperDefaults Defaults(double lr, double momentum, double dampening, double weightDecay, bool nesterov, bool maximize)
    {
        var d = new HyperDefaults([(Hyper.Lr, lr), (Hyper.Momentum, momentum), (Hyper.Dampening, dampening), (Hyper.WeightDecay, weightDecay),
            (Hyper.Nesterov, nesterov ? 1 : 0), (Hyper.Maximize, maximize ? 1 : 0)]);
        if (NesterovProblem(d) is string problem) throw new ArgumentException(problem, nameof(nesterov));
        return d;
    }

    private static string? NesterovProblem(ParamGroup g) =>
        g.Nesterov == true && !(g.Momentum > 0 && g.Dampening == 0)
            ? $"Nesterov momentum needs momentum > 0 and dampening 0, got momentum {g.Momentum}, dampening {g.Dampening}."
            : null;

    private protected override string[] StateNames => s_stateNames;

    private protected override bool CountsSteps => false;

    private protected override bool RequiresSlot(int slot, ParamGroup group) => group.Momentum != 0;

    private protected override string? GroupProblem(ParamGroup group) => NesterovProblem(group);

    private protected override void StepDense(ParamGroup group, int groupIndex, Parameter<T> parameter, ParameterState<T> state)
    {
        _c = new Coefficients(group, groupIndex, first: state.Buffers[MomentumBuffer] is null);
        _b = _c.HasMomentum ? Buffer(state, MomentumBuffer, parameter) : null;
        RunRange(parameter);
        _b = null;
    }

    private protected override void UpdateRange(int start, int count)
    {
        var k = new Kernel(_c, ref Theta[start], ref Grad[start], ref Lanes<T>.At(_b, start));
        Lanes<T>.Run(ref k, count);
    }

    private protected override void StepSparse(ParamGroup group, int groupIndex, Parameter<T> parameter, RowSparseGradient<T> gradient, ParameterState<T> state)
    {
        var c = new Coefficients(group, groupIndex, first: state.Buffers[MomentumBuffer] is null);
        int d = gradient.RowLength;
        var touched = gradient.TouchedRows;
        if (!c.HasMomentum)
        {
            for (int s = 0; s < touched.Length; s++) UpdateRow(c, parameter.Data, touched[s], gradient.SlotValues(s), null);
            return;
        }
        var buffer = Buffer(state, MomentumBuffer, parameter);
        var rows = state.Extra as MomentumRows ?? (MomentumRows)(state.Extra = new MomentumRows(buffer, gradient.Rows, d));
        long stamp = ++rows.Stamp;
        for (int s = 0; s < touched.Length; s++)
        {
            int r = touched[s];
            UpdateRow(c, parameter.Data, r, gradient.SlotValues(s), buffer);
            rows.TouchedAt[r] = stamp;
            rows.Add(r);
        }
        // Rows with momentum but no gradient this step: d_r = 0 (no lazy weight decay for them).
        var decayOnly = c.WithoutWeightDecay();
        for (int a = 0; a < rows.Count; a++)
        {
            int r = rows.List[a];
            if (rows.TouchedAt[r] != stamp) UpdateRow(decayOnly, parameter.Data, r, rows.Zero, buffer);
        }
    }

    private static void UpdateRow(in Coefficients c, T[] data, int row, Span<T> gradient, T[]? buffer)
    {
        int d = gradient.Length, at = row * d;
        var k = new Kernel(c, ref data[at], ref MemoryMarshal.GetReference(gradient), ref Lanes<T>.At(buffer, at));
        Lanes<T>.Run(ref k, d);
    }

    /// <summary>The step's hyperparameters in <typeparamref name="T"/>.</summary>
    private readonly struct Coefficients
    {
        public readonly GradientTerms<T> Terms;
        public readonly T NegLr, Momentum, OneMinusDampening;
        public readonly bool HasMomentum, Nesterov, First;

        public Coefficients(ParamGroup g, int groupIndex, bool first)
        {
            double momentum = g.Value(Hyper.Momentum, groupIndex);
            Terms = new GradientTerms<T>(g, groupIndex, g.Value(Hyper.WeightDecay, groupIndex));
            NegLr = T.CreateTruncating(-g.Value(Hyper.Lr, groupIndex));
            Momentum = T.CreateTruncating(momentum);
            OneMinusDampening = T.CreateTruncating(1 - g.Value(Hyper.Dampening, groupIndex));
            HasMomentum = momentum != 0;
            Nesterov = g.Flag(Hyper.Nesterov, groupIndex);
            First = first;
        }

        private Coefficients(in Coefficients c)
        {
            this = c;
            Terms = c.Terms.WithoutWeightDecay();
            First = false;
        }

        public Coefficients WithoutWeightDecay() => new(this);
    }

    /// <summary>One element range of the update in the file header.</summary>
    private ref struct Kernel(in Coefficients c, ref T p, ref T g, ref T b) : IElementwiseKernel<T>
    {
        private readonly Coefficients _c = c;
        private readonly ref T _p = ref p, _g = ref g, _b = ref b;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Apply<TL>(int i) where TL : struct, ILane<TL, T>
        {
            var d = _c.Terms.Gradient(ref _p, ref _g, i, out TL theta);
            if (_c.HasMomentum)
            {
                var b = _c.First ? d : TL.Broadcast(_c.Momentum) * TL.Load(ref _b, i) + TL.Broadcast(_c.OneMinusDampening) * d;
                TL.Store(b, ref _b, i);
                d = _c.Nesterov ? d + TL.Broadcast(_c.Momentum) * b : b;
            }
            TL.Store(theta + TL.Broadcast(_c.NegLr) * d, ref _p, i);
        }
    }

    /// <summary>The rows of a sparse parameter's momentum buffer that have ever been touched (so may be non-zero).</summary>
    private sealed class MomentumRows
    {
        public readonly bool[] Active;
        public readonly int[] List;
        public readonly long[] TouchedAt;
        public readonly T[] Zero;
        public int Count;
        public long Stamp;

        // Rebuilt from the buffer's non-zero rows (after LoadStateDict, or a parameter that switched to sparse).
        public MomentumRows(T[] buffer, int rows, int rowLength)
        {
            Active = new bool[rows];
            List = new int[rows];
            TouchedAt = new long[rows];
            Zero = new T[rowLength];
            for (int r = 0; r < rows; r++)
                if (buffer.AsSpan(r * rowLength, rowLength).ContainsAnyExcept(T.Zero)) Add(r);
        }

        public void Add(int row)
        {
            if (Active[row]) return;
            Active[row] = true;
            List[Count++] = row;
        }
    }
}
