// The contract every loss in this folder follows (the module contract of Core/Module.cs, with a
// scalar result and targets as a second input).
//
//   Forward(input, target) → L     computes the per-element losses l_i (kept in Unreduced) and returns
//                                  their reduction L (see Reduction.cs; for Reduction.None, L = Σ_i l_i).
//   Backward()             → dL/dInput for an upstream gradient of 1 (the usual last step of a graph).
//   Backward(g)            → g · dL/dInput.
//   Backward(g_i)          → Σ_i g_i · ∂l_i/∂input: one upstream gradient per element (Reduction.None only).
//
// With s = ∂L/∂l_i, the same for every i (1/D for Mean, 1/N for BatchMean, 1 for Sum and None):
//   dInput = g · s · Σ_i ∂l_i/∂input      (or Σ_i g_i · ∂l_i/∂input for Reduction.None).
// A Mean over nothing (D = 0: every target ignored, or only zero class weights) is L = 0 and s = 0, so the
// gradient is zero too. PyTorch returns NaN there (0/0); a batch of padding should not poison a training run.
//
// Gradients flow to the input only: targets are data (PyTorch would also differentiate soft targets that
// require grad). Backward's result is a module-owned buffer, valid until the next Forward. The input and
// target passed to Forward are kept by reference until Backward: do not modify them in between.
namespace NeuralPrimitives;

/// <summary>
/// Base class of the losses: a <see cref="Module{T}"/> whose <c>Forward(input, target)</c> returns the reduced
/// loss and whose <see cref="Backward()"/> returns dLoss/dInput. Subclasses define the per-element loss and its derivative.
/// </summary>
/// <remarks>
/// Misuse is refused as for any module: a <see cref="Backward()"/> before <c>Forward</c>, after a <c>Forward</c> that
/// threw, or a second one after one <c>Forward</c> throws <see cref="InvalidOperationException"/>.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class Loss<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _unreduced = new();
    private Tensor<T>? _lastUnreduced;

    /// <summary>Sets the reduction; only a loss that passes <paramref name="batchMeanAllowed"/> accepts <see cref="Reduction.BatchMean"/>.</summary>
    /// <param name="reduction">How per-element losses are reduced.</param>
    /// <param name="batchMeanAllowed">Whether <see cref="Reduction.BatchMean"/> is valid for this loss.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is not valid for this loss.</exception>
    protected Loss(Reduction reduction, bool batchMeanAllowed = false)
    {
        if (!Enum.IsDefined(reduction) || (reduction == Reduction.BatchMean && !batchMeanAllowed))
            throw new ArgumentOutOfRangeException(nameof(reduction), reduction,
                $"reduction must be Mean, Sum or None{(batchMeanAllowed ? " or BatchMean" : " (BatchMean is KlDivLoss's)")}, got {reduction}.");
        Reduction = reduction;
    }

    /// <summary>How the per-element losses are reduced.</summary>
    public Reduction Reduction { get; }

    /// <summary>
    /// The per-element losses l_i of the last <c>Forward</c>, for every reduction (PyTorch's <c>reduction='none'</c> result):
    /// shaped like the target for class-index losses, like the input without its class axis for cross-entropy with
    /// probabilities, like the input for element-wise losses. A module-owned buffer, valid until the next <c>Forward</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">No successful <c>Forward</c> yet.</exception>
    public Tensor<T> Unreduced => _lastUnreduced ?? throw new InvalidOperationException($"{DisplayName}.Unreduced read before Forward.");

    /// <summary>Returns dLoss/dInput of the last <c>Forward</c> for an upstream gradient of 1.</summary>
    /// <returns>A module-owned tensor shaped like the input, valid until the next <c>Forward</c>.</returns>
    public Tensor<T> Backward() => Backward(T.One);

    /// <summary>Returns <paramref name="dLoss"/> · dLoss/dInput of the last <c>Forward</c> (the chain rule with a scalar upstream gradient).</summary>
    /// <param name="dLoss">∂(final objective)/∂(this loss), e.g. a loss weight.</param>
    /// <returns>A module-owned tensor shaped like the input, valid until the next <c>Forward</c>.</returns>
    public Tensor<T> Backward(T dLoss)
    {
        using var pass = BeginBackward();
        var dInput = Gradient(dLoss, ReadOnlySpan<T>.Empty);
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>Returns Σ_i dLoss_i · ∂l_i/∂input for per-element upstream gradients (only with <see cref="Reduction.None"/>).</summary>
    /// <param name="dLoss">One upstream gradient per element, shaped like <see cref="Unreduced"/>.</param>
    /// <returns>A module-owned tensor shaped like the input, valid until the next <c>Forward</c>.</returns>
    /// <exception cref="ArgumentException">The reduction is not <see cref="Reduction.None"/>, or <paramref name="dLoss"/> has the wrong shape.</exception>
    public Tensor<T> Backward(Tensor<T> dLoss)
    {
        using var pass = BeginBackward();
        ArgumentNullException.ThrowIfNull(dLoss);
        if (Reduction != Reduction.None)
            throw new ArgumentException($"dLoss: per-element upstream gradients need Reduction.None; this {DisplayName} reduces with {Reduction}, so its loss is a scalar: call Backward(T) instead.", nameof(dLoss));
        Guard.Shape(dLoss, Unreduced.Lengths, nameof(dLoss));
        var dInput = Gradient(T.One, dLoss.AsReadOnlySpan());
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>
    /// Computes dInput = Σ_i u_i · s · ∂l_i/∂input for the last <c>Forward</c>, where u_i = <paramref name="dUnreduced"/>[i],
    /// or <paramref name="dLoss"/> for every i when <paramref name="dUnreduced"/> is empty; s is <see cref="ReductionScale"/>.
    /// Runs once per <c>Forward</c> (the base class refuses a second call).
    /// </summary>
    protected abstract Tensor<T> Gradient(T dLoss, ReadOnlySpan<T> dUnreduced);

    /// <summary>s = ∂L/∂l_i of the last Forward (set by <see cref="Complete"/>; see the file header).</summary>
    protected T Scale { get; private set; }

    /// <summary>s = ∂L/∂l_i for a Mean or BatchMean denominator <paramref name="denominator"/> (0 when it is 0), 1 for Sum and None.</summary>
    protected T ReductionScale(T denominator) => Reduction switch
    {
        Reduction.Mean or Reduction.BatchMean => denominator == T.Zero ? T.Zero : T.One / denominator,
        _ => T.One,
    };

    /// <summary>Returns the buffer for this Forward's per-element losses, shaped <paramref name="shape"/> (becomes <see cref="Unreduced"/>).</summary>
    protected Span<T> UnreducedBuffer(ReadOnlySpan<nint> shape)
    {
        _lastUnreduced = null;
        var t = _unreduced.Get(shape);
        _lastUnreduced = t;
        return t.AsSpan();
    }

    /// <summary>
    /// Ends a successful Forward whose per-element losses are in <see cref="Unreduced"/>: sets <see cref="Scale"/> for
    /// <paramref name="denominator"/> (the Mean or BatchMean D), completes <paramref name="pass"/> (anomaly check of the
    /// losses) and returns the reduced loss.
    /// </summary>
    protected T Complete(in TrainingPass pass, T denominator)
    {
        Scale = ReductionScale(denominator);
        var losses = Unreduced.AsReadOnlySpan();
        pass.Complete(losses, "loss");
        return Reduce(losses, denominator);
    }

    /// <summary>
    /// The reduced loss of the per-element losses <paramref name="losses"/>: their sum, divided by <paramref name="denominator"/>
    /// for Mean and BatchMean (0 when the denominator is 0). The sum depends only on the values and their order, not on how
    /// many threads computed them.
    /// </summary>
    protected T Reduce(ReadOnlySpan<T> losses, T denominator)
    {
        T sum = TensorPrimitives.Sum(losses);
        return Reduction is Reduction.Mean or Reduction.BatchMean
            ? (denominator == T.Zero ? T.Zero : sum / denominator)
            : sum;
    }

    /// <summary>
    /// Copies <paramref name="values"/> (if given) into a buffer registered as <paramref name="stateName"/> (PyTorch's
    /// buffer name, so it is in the state_dict); <paramref name="perClass"/> requires a one-dimensional tensor.
    /// </summary>
    private protected Buffer<T>? RegisterWeight(string stateName, Tensor<T>? values, string argument, bool perClass)
    {
        if (values is null) return null;
        if (perClass && values.Rank != 1)
            throw new ArgumentException($"{argument} must be one-dimensional (one weight per class, [C]), got shape {Shapes.Format(values.Lengths)}.", argument);
        if (values.Rank == 0 || values.FlattenedLength == 0)
            throw new ArgumentException($"{argument} must have at least one element and one dimension, got shape {Shapes.Format(values.Lengths)}.", argument);
        var buffer = new Buffer<T>(values.Shape());
        values.AsReadOnlySpan().CopyTo(buffer.Data);
        return RegisterBuffer(stateName, buffer);
    }
}
