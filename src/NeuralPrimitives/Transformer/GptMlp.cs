// The MLP of a GPT block (nanoGPT's MLP, GPT-2's GPT2MLP): the position-wise feed-forward network with
// nanoGPT's names, widened 4×, and the dropout after the output projection.
//
// Shapes:   x, y [B, L, C]   c_fc.weight [4C, C]   c_proj.weight [C, 4C]
// Forward:  y = dropout(c_proj(act(c_fc(x))))       act = GELU (exact, nanoGPT) or its tanh form (GPT-2)
// Backward: dh = dropout'(dy);  dx = c_fc.Backward(dh' ⊙ act'(z)) after c_proj.Backward: the equations of
//           Transformer/FeedForward.cs, whose two Linear layers this module holds under the names c_fc and c_proj
//           (the FeedForward itself runs with dropout 0; nanoGPT drops after c_proj, not inside).
namespace NeuralPrimitives;

/// <summary>
/// A GPT block's MLP, <c>dropout(c_proj(GELU(c_fc(x))))</c> (nanoGPT's <c>MLP</c>): children <c>c_fc</c> [4C, C],
/// <c>c_proj</c> [C, 4C] and <c>dropout</c>. The arithmetic is <see cref="FeedForward{T}"/>'s.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GptMlp<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly FeedForward<T> _ff;

    /// <summary>Creates the MLP with nanoGPT's initialisation: weights N(0, 0.02), c_proj N(0, 0.02/√(2·<paramref name="nLayer"/>)), biases 0.</summary>
    /// <param name="nEmbd">C ≥ 1; the hidden width is 4C.</param>
    /// <param name="nLayer">Blocks in the model (scales the c_proj initialisation).</param>
    /// <param name="activation">Gelu, GeluTanh or Relu.</param>
    /// <param name="bias">Whether the projections have biases.</param>
    /// <param name="dropout">Dropout probability after c_proj, in [0, 1) (training mode only).</param>
    /// <param name="rng">Random source for initialisation and dropout; <see cref="Rng.Default"/> when null.</param>
    public GptMlp(int nEmbd, int nLayer, FeedForwardActivation activation = FeedForwardActivation.Gelu, bool bias = true, double dropout = 0, Rng? rng = null)
    {
        Guard.Positive(nEmbd);
        Guard.Positive(nLayer);
        if (activation == FeedForwardActivation.SwiGlu)
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "activation must be Gelu, GeluTanh or Relu (the GPT MLP has two projections), got SwiGlu.");
        rng ??= Rng.Default;
        _ff = new FeedForward<T>(nEmbd, 4 * nEmbd, activation, 0, bias, rng);
        CFc = RegisterModule("c_fc", _ff.Linear1);
        CProj = RegisterModule("c_proj", _ff.Linear2);
        Dropout = RegisterModule("dropout", new Dropout<T>(dropout, rng));
        GptInit.Linear(CFc, rng, 0.02);
        GptInit.Linear(CProj, rng, 0.02 / Math.Sqrt(2.0 * nLayer));
    }

    /// <summary>The non-linearity.</summary>
    public FeedForwardActivation Activation => _ff.Activation;

    /// <summary><c>c_fc</c>: C → 4C.</summary>
    public Linear<T> CFc { get; }

    /// <summary><c>c_proj</c>: 4C → C.</summary>
    public Linear<T> CProj { get; }

    /// <summary><c>dropout</c>, after c_proj.</summary>
    public Dropout<T> Dropout { get; }

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        var output = Dropout.Forward(_ff.Forward(input));
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var dInput = _ff.Backward(Dropout.Backward(dOutput));
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input) => _ff.Infer(input);
}

/// <summary>nanoGPT's initialisation (<c>_init_weights</c>): Linear weights N(0, std), biases 0.</summary>
internal static class GptInit
{
    public static void Linear<T>(Linear<T> linear, Rng rng, double std) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Init.Normal(linear.Weight, rng, 0, std);
        linear.Bias?.Data.AsSpan().Clear();
    }
}
