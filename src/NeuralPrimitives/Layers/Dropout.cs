// Dropout (Srivastava et al. 2014; PyTorch's nn.Dropout), "inverted": survivors are scaled up in
// training so that evaluation is the identity and needs no rescaling.
//
// Shapes:   x, y, dy, dx of any one shape.
// Forward (training, p < 1):  mᵢ ~ Bernoulli(1 − p),  yᵢ = xᵢ·mᵢ/(1 − p)      (p = 1: y = 0)
// Forward (evaluation, or p = 0):  y = x
// Backward: dxᵢ = dyᵢ·mᵢ/(1 − p) with the mask of the last Forward (dx = dy when it was the identity).
// The mask is kept as the scale sᵢ = mᵢ/(1 − p) ∈ {0, 1/(1 − p)}, so both passes are y = x ⊙ s.
namespace NeuralPrimitives;

/// <summary>
/// Zeroes each element with probability <see cref="P"/> in training mode and scales the rest by 1/(1 − p)
/// (PyTorch's <c>nn.Dropout</c>); the identity in evaluation mode (<see cref="Module{T}.Eval"/>) and in <see cref="Infer"/>.
/// </summary>
/// <remarks>
/// Masks are drawn from the <see cref="Rng"/> given to the constructor, or from <see cref="Rng.Default"/> at each
/// Forward when none was given (PyTorch's global generator), so a seed reproduces them.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Dropout<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Rng? _rng;
    private readonly TensorBuffer<T> _output = new(), _dInput = new(), _scale = new();
    private Tensor<T>? _input;
    private bool _masked; // whether the last Forward applied a mask (training with p > 0)

    /// <summary>Creates the layer.</summary>
    /// <param name="p">Probability of zeroing an element, in [0, 1] (PyTorch's default 0.5).</param>
    /// <param name="rng">Source of the masks; <see cref="Rng.Default"/> (read at each Forward) when null.</param>
    public Dropout(double p = 0.5, Rng? rng = null)
    {
        Guard.InRange(p, 0, 1);
        P = p;
        _rng = rng;
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double P { get; }

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        ArgumentNullException.ThrowIfNull(input);
        var output = _output.Get(input.Lengths);
        var x = input.AsReadOnlySpan();
        _masked = Training && P > 0;
        if (_masked)
        {
            var scale = _scale.GetSpan(x.Length);
            var rng = _rng ?? Rng.Default;
            T keptScale = P < 1 ? T.CreateTruncating(1 / (1 - P)) : T.Zero;
            for (int i = 0; i < scale.Length; i++) scale[i] = rng.NextDouble() < P ? T.Zero : keptScale;
            TensorPrimitives.Multiply(x, scale, output.AsSpan());
        }
        else x.CopyTo(output.AsSpan());
        _input = input;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.SameShape(_input!, dOutput, nameof(dOutput));
        var dInput = _dInput.Get(dOutput.Lengths);
        var dy = dOutput.AsReadOnlySpan();
        if (_masked) TensorPrimitives.Multiply(dy, _scale.Array.AsSpan(0, dy.Length), dInput.AsSpan());
        else dy.CopyTo(dInput.AsSpan());
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>Inference: the identity (a copy of <paramref name="input"/>).</summary>
    public Tensor<T> Infer(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Tensor.Create(input.ToArray(), input.Lengths);
    }
}
