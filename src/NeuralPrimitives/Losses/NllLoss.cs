// Negative log-likelihood of class-index targets (PyTorch's nn.NLLLoss): the loss for inputs that are
// already log-probabilities (a LogSoftmax output). CrossEntropyLoss = LogSoftmax + NllLoss, fused.
//
// Shapes:   input x [..., C] log-probabilities (class axis LAST: see ClassTargets.cs), target y [...],
//           class weights w [C] (absent = 1); per-element loss l [...] (the target's shape).
// Forward:  l_n = −w_{y_n}·x_{n, y_n}                      (0 where y_n = ignoreIndex)
//           L = Σ_n l_n / D  (Mean, D = Σ_{kept n} w_{y_n}),  Σ_n l_n (Sum),  or l (None)
// Backward: ∂l_n/∂x_{n,c} = −w_{y_n} if c = y_n, else 0   dx_{n,c} = −u_n · s · w_{y_n} · [c = y_n]
namespace NeuralPrimitives;

/// <summary>
/// Negative log-likelihood loss for class-index targets over log-probabilities whose class axis is last
/// (PyTorch's <c>nn.NLLLoss</c>), with class weights, <c>ignoreIndex</c> and PyTorch's weighted mean.
/// </summary>
/// <remarks>
/// PyTorch's class axis is dimension 1; here it is the last one ([N, C] is the same; use [B, T, C] for sequences).
/// A mean over no kept targets is 0 with a zero gradient (PyTorch: NaN). Buffer: <c>weight</c>, when given.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class NllLoss<T> : Loss<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Buffer<T>? _weight;
    private readonly TensorBuffer<T> _dInput = new();
    private Tensor<T>? _input;
    private Tensor<int>? _target;

    /// <summary>Creates the loss.</summary>
    /// <param name="weight">Class weights [C], or null for 1.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing (default −100, as PyTorch).</param>
    /// <param name="reduction">Mean (default; weighted), Sum or None.</param>
    /// <exception cref="ArgumentException"><paramref name="weight"/> is not one-dimensional.</exception>
    public NllLoss(Tensor<T>? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean) : base(reduction)
    {
        _weight = RegisterWeight("weight", weight, nameof(weight), perClass: true);
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>The class weights (a view of the <c>weight</c> buffer), or null.</summary>
    public Tensor<T>? Weight => _weight?.Value;

    /// <summary>The target value that is ignored.</summary>
    public int IgnoreIndex { get; }

    /// <summary>Computes the loss of log-probabilities against class indices.</summary>
    /// <param name="input">Log-probabilities [..., C] (class axis last).</param>
    /// <param name="target">Class indices, the input's shape without its last axis.</param>
    /// <returns>The reduced loss; for <see cref="Reduction.None"/>, the sum of <see cref="Loss{T}.Unreduced"/>.</returns>
    /// <exception cref="ArgumentException">Shapes disagree, or the weight length is not C.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is neither a class in [0, C) nor <see cref="IgnoreIndex"/>.</exception>
    public T Forward(Tensor<T> input, Tensor<int> target)
    {
        using var pass = BeginForward();
        var (_, classes, denominator) = ClassTargets.Check(input, target, _weight, IgnoreIndex);
        var x = input.AsReadOnlySpan();
        var y = target.AsReadOnlySpan();
        var losses = UnreducedBuffer(target.Lengths);
        for (int n = 0; n < y.Length; n++)
            losses[n] = y[n] == IgnoreIndex ? T.Zero : -ClassWeight(y[n]) * x[n * classes + y[n]];
        _input = input;
        _target = target;
        return Complete(pass, denominator);
    }

    private T ClassWeight(int c) => _weight is null ? T.One : _weight.Data[c];

    /// <inheritdoc />
    protected override Tensor<T> Gradient(T dLoss, ReadOnlySpan<T> dUnreduced)
    {
        var dInput = _dInput.Get(_input!.Lengths, clear: true);
        var dx = dInput.AsSpan();
        var y = _target!.AsReadOnlySpan();
        int classes = (int)_input.Lengths[^1];
        for (int n = 0; n < y.Length; n++)
            if (y[n] != IgnoreIndex)
                dx[n * classes + y[n]] = -(dUnreduced.IsEmpty ? dLoss : dUnreduced[n]) * Scale * ClassWeight(y[n]);
        return dInput;
    }
}
