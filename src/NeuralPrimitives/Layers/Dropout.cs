// Dropout (PyTorch's nn.Dropout): during training, zero each element with probability p and scale the
// kept ones by 1/(1 − p), so the expected output equals the input and evaluation needs no rescaling.
//
// Shapes:   x, y, mask: the same shape (any rank).
// Forward (training, 0 < p < 1):  m_i = 1/(1 − p) with probability 1 − p, else 0 (one draw per element)
//                                 y_i = m_i · x_i
//           p = 1: y = 0 (everything dropped, as PyTorch);  p = 0 or evaluation mode: y = x (the input itself)
// Backward: dx_i = m_i · dy_i     (the same mask; dx = dy after an identity Forward)
// Randomness: the draws come from the Rng given to the constructor, or from Rng.Default at the time of each
// Forward (so Rng.ManualSeed before training reproduces a run, as torch.manual_seed does).
namespace NeuralPrimitives;

/// <summary>
/// Randomly zeroes elements with probability <see cref="P"/> in training mode and scales the rest by 1/(1 − p)
/// (PyTorch's <c>nn.Dropout</c>, inverted dropout); the identity in evaluation mode and in <see cref="Infer"/>.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Dropout<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T _keepScale;
    private readonly TensorBuffer<T> _mask = new();
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private Tensor<T>? _lastMask; // the last Forward's mask; null when it was the identity (evaluation or p = 0)

    /// <summary>Creates the layer.</summary>
    /// <param name="p">Probability of zeroing an element, in [0, 1] (default 0.5).</param>
    /// <param name="rng">Random source for the masks; <see cref="Rng.Default"/> (read at each Forward) when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="p"/> is outside [0, 1].</exception>
    public Dropout(double p = 0.5, Rng? rng = null)
    {
        Guard.InRange(p, 0, 1);
        P = p;
        Generator = rng;
        _keepScale = p < 1 ? T.CreateTruncating(1 / (1 - p)) : T.Zero;
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double P { get; }

    /// <summary>The random source of the masks; null reads <see cref="Rng.Default"/> at each Forward. Assign a freshly seeded one to reproduce masks.</summary>
    public Rng? Generator { get; set; }

    /// <summary>
    /// Training mode with p &gt; 0: returns x ⊙ mask in a module-owned buffer (a fresh mask per call). Otherwise
    /// returns <paramref name="input"/> itself.
    /// </summary>
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        ArgumentNullException.ThrowIfNull(input);
        _lastMask = null;
        if (!Training || P == 0)
        {
            pass.Complete();
            return input;
        }
        _lastMask = _mask.Get(input.Lengths);
        var mask = _lastMask.AsSpan();
        var rng = Generator ?? Rng.Default;
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextDouble() < P ? T.Zero : _keepScale;
        var output = _output.Get(input.Lengths);
        TensorPrimitives.Multiply(input.AsReadOnlySpan(), mask, output.AsSpan());
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>dx = dy ⊙ mask of the last Forward (a module-owned buffer), or <paramref name="dOutput"/> itself after an identity Forward.</summary>
    /// <exception cref="ArgumentException"><paramref name="dOutput"/>'s shape differs from the last input's.</exception>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        ArgumentNullException.ThrowIfNull(dOutput);
        var mask = _lastMask;
        if (mask is null)
        {
            pass.Complete();
            return dOutput;
        }
        Guard.SameShape(mask, dOutput, nameof(dOutput));
        var dInput = _dInput.Get(mask.Lengths);
        TensorPrimitives.Multiply(dOutput.AsReadOnlySpan(), mask.AsReadOnlySpan(), dInput.AsSpan());
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>The identity (no dropout at inference): returns a copy of <paramref name="input"/>.</summary>
    public Tensor<T> Infer(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Tensor.Create(input.ToArray(), input.Lengths);
    }
}
