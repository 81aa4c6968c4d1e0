// The position-wise feed-forward network of a transformer block (Vaswani et al. 2017, §3.3): the same
// two-layer MLP applied to every position (row) on its own. Attention mixes positions; this mixes features.
// The residual connection around it (x + FFN(x)) is written out in the layer that uses it, not here.
//
// Shapes:   x, y [..., dModel]; the hidden activations h [..., dimFeedforward].
// Forward, ReLU / GELU (PyTorch's TransformerEncoderLayer: linear1, activation, dropout, linear2):
//   z = linear1(x) = x·W₁ᵀ + b₁        h = act(z)        y = linear2(dropout(h)) = dropout(h)·W₂ᵀ + b₂
// Forward, SwiGLU (Shazeer 2020, "GLU variants"; LLaMA's names w1, w2, w3, usually without biases):
//   a = w1(x)   b = w3(x)              h = SiLU(a) ⊙ b   y = w2(dropout(h))
//   SiLU(a) = a·σ(a) gates the "up" projection b element by element.
// Backward (dh from the output projection and the dropout mask, each Linear accumulating its own dW, db):
//   dh = dropout'(w2ᵀ dy)                  (linear2.Backward, then dropout.Backward)
//   ReLU / GELU:  dz = dh ⊙ act'(z)        dx = linear1.Backward(dz)
//   SwiGLU:       db = dh ⊙ SiLU(a)        da = dh ⊙ b ⊙ SiLU'(a)       dx = w1.Backward(da) + w3.Backward(db)
// The activations and their derivatives are in Kernels/Activations.cs.
namespace NeuralPrimitives;

/// <summary>The non-linearity of a <see cref="FeedForward{T}"/>.</summary>
public enum FeedForwardActivation
{
    /// <summary>ReLU, max(z, 0): the original transformer and PyTorch's default (<c>activation="relu"</c>).</summary>
    Relu,

    /// <summary>Exact GELU, z·Φ(z) (PyTorch's <c>activation="gelu"</c>; BERT).</summary>
    Gelu,

    /// <summary>GELU with the tanh approximation (PyTorch's <c>approximate="tanh"</c>; GPT-2's <c>gelu_new</c>).</summary>
    GeluTanh,

    /// <summary>The gated SwiGLU of the modern decoders (PaLM, LLaMA): SiLU(w1 x) ⊙ w3 x, with a third projection.</summary>
    SwiGlu,
}

/// <summary>
/// A transformer's position-wise feed-forward network: <c>Linear → activation → dropout → Linear</c>, or for
/// <see cref="FeedForwardActivation.SwiGlu"/> the gated <c>w2(dropout(SiLU(w1 x) ⊙ w3 x))</c>.
/// Children: <c>linear1</c>, <c>dropout</c>, <c>linear2</c> (PyTorch's <c>TransformerEncoderLayer</c> attribute names),
/// or for SwiGLU <c>w1</c>, <c>w2</c>, <c>w3</c>, <c>dropout</c> (LLaMA's <c>FeedForward</c>).
/// </summary>
/// <remarks>
/// <para>It is a reusable building block. Registered as a child <c>ff</c>, its keys are <c>ff.linear1.weight</c>, ….
/// PyTorch's <c>TransformerEncoderLayer</c> holds <c>linear1</c>, <c>dropout</c> and <c>linear2</c> itself, so a layer that
/// wants PyTorch's keys registers this module's <see cref="Module{T}.NamedChildren"/> under its own name instead of the
/// module, and calls <see cref="Forward"/>/<see cref="Backward"/> as usual. Dropout reads the mode of the <c>dropout</c>
/// child, so the layer's <c>Train()</c>/<c>Eval()</c> reach it either way.</para>
/// <para>No residual connection and no normalisation: the layer that uses it writes <c>x + FFN(x)</c> out.</para>
/// <para>Thread safety: <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time; <see cref="Infer"/>
/// (no dropout) may run on several threads at once.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class FeedForward<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _hidden = new(), _dPre = new(), _dUp = new(), _dInput = new();
    private Tensor<T>? _input, _pre, _up; // x; z = linear1(x) (SwiGLU: a = w1(x)); b = w3(x)

    /// <summary>Creates the network with PyTorch's Linear initialisation.</summary>
    /// <param name="dModel">Size of each input and output row (≥ 1).</param>
    /// <param name="dimFeedforward">Hidden size (≥ 1; PyTorch's default is 2048, the original transformer's 4·dModel).</param>
    /// <param name="activation">The non-linearity (default ReLU, as PyTorch).</param>
    /// <param name="dropout">Dropout probability on the hidden activations, in [0, 1] (default 0).</param>
    /// <param name="bias">Whether the projections have biases (default true; LLaMA's SwiGLU uses false).</param>
    /// <param name="rng">Random source for initialisation and dropout masks; <see cref="Rng.Default"/> when null.</param>
    public FeedForward(int dModel, int dimFeedforward, FeedForwardActivation activation = FeedForwardActivation.Relu,
        double dropout = 0, bool bias = true, Rng? rng = null)
    {
        Guard.Positive(dModel);
        Guard.Positive(dimFeedforward);
        if (!Enum.IsDefined(activation))
            throw new ArgumentOutOfRangeException(nameof(activation), activation, $"activation must be one of {string.Join(", ", Enum.GetNames<FeedForwardActivation>())}, got {(int)activation}.");
        DModel = dModel;
        DimFeedforward = dimFeedforward;
        Activation = activation;
        rng ??= Rng.Default;
        if (activation == FeedForwardActivation.SwiGlu)
        {
            Linear1 = RegisterModule("w1", new Linear<T>(dModel, dimFeedforward, bias, rng));
            Linear2 = RegisterModule("w2", new Linear<T>(dimFeedforward, dModel, bias, rng));
            Linear3 = RegisterModule("w3", new Linear<T>(dModel, dimFeedforward, bias, rng));
            Dropout = RegisterModule("dropout", new Dropout<T>(dropout, rng));
        }
        else
        {
            Linear1 = RegisterModule("linear1", new Linear<T>(dModel, dimFeedforward, bias, rng));
            Dropout = RegisterModule("dropout", new Dropout<T>(dropout, rng));
            Linear2 = RegisterModule("linear2", new Linear<T>(dimFeedforward, dModel, bias, rng));
        }
    }

    /// <summary>Input and output row size.</summary>
    public int DModel { get; }

    /// <summary>Hidden size.</summary>
    public int DimFeedforward { get; }

    /// <summary>The non-linearity.</summary>
    public FeedForwardActivation Activation { get; }

    /// <summary>The first projection dModel → dimFeedforward: <c>linear1</c>, or SwiGLU's gate <c>w1</c>.</summary>
    public Linear<T> Linear1 { get; }

    /// <summary>The output projection dimFeedforward → dModel: <c>linear2</c>, or SwiGLU's <c>w2</c>.</summary>
    public Linear<T> Linear2 { get; }

    /// <summary>SwiGLU's up projection <c>w3</c> (dModel → dimFeedforward), or null for the other activations.</summary>
    public Linear<T>? Linear3 { get; }

    /// <summary>The dropout on the hidden activations (child <c>dropout</c>).</summary>
    public Dropout<T> Dropout { get; }

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        Guard.LastDim(input, DModel, nameof(input));
        var pre = Linear1.Forward(input);
        var up = Linear3?.Forward(input);
        var hidden = _hidden.Get(pre.Lengths);
        Hidden(pre, up, hidden);
        var output = Linear2.Forward(Dropout.Forward(hidden));
        (_input, _pre, _up) = (input, pre, up);
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input)
    {
        Guard.LastDim(input, DModel, nameof(input));
        var pre = Linear1.Infer(input);
        var hidden = Tensor.Create(new T[pre.FlattenedLength], pre.Lengths);
        Hidden(pre, Linear3?.Infer(input), hidden);
        return Linear2.Infer(hidden);
    }

    /// <summary>h = act(z), or SwiGLU's h = SiLU(a) ⊙ b.</summary>
    private void Hidden(Tensor<T> pre, Tensor<T>? up, Tensor<T> hidden)
    {
        var z = pre.AsReadOnlySpan();
        var h = hidden.AsSpan();
        switch (Activation)
        {
            case FeedForwardActivation.Relu: Activations.Relu(z, h); break;
            case FeedForwardActivation.Gelu: Activations.Gelu(z, h, GeluApproximation.None); break;
            case FeedForwardActivation.GeluTanh: Activations.Gelu(z, h, GeluApproximation.Tanh); break;
            default:
                Activations.Silu(z, h);
                TensorPrimitives.Multiply(h, up!.AsReadOnlySpan(), h);
                break;
        }
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var input = _input!;
        Guard.Shape(dOutput, input.Lengths, nameof(dOutput));
        var dHidden = Dropout.Backward(Linear2.Backward(dOutput));   // dh
        var z = _pre!.AsReadOnlySpan();
        var dh = dHidden.AsReadOnlySpan();
        var dPre = _dPre.Get(dHidden.Lengths);
        var dz = dPre.AsSpan();
        Tensor<T> dInput;
        if (Activation == FeedForwardActivation.SwiGlu)
        {
            var dUp = _dUp.Get(dHidden.Lengths);
            var db = dUp.AsSpan();
            Activations.Silu(z, db);
            TensorPrimitives.Multiply(dh, db, db);                        // db = dh ⊙ SiLU(a)
            TensorPrimitives.Multiply(dh, _up!.AsReadOnlySpan(), dz);     // dh ⊙ b
            Activations.SiluBackward(z, dz, dz);                          // da = dh ⊙ b ⊙ SiLU'(a)
            dInput = _dInput.Get(input.Lengths);
            TensorPrimitives.Add(Linear1.Backward(dPre).AsReadOnlySpan(), Linear3!.Backward(dUp).AsReadOnlySpan(), dInput.AsSpan());
        }
        else
        {
            switch (Activation)
            {
                case FeedForwardActivation.Relu: Activations.ReluBackward(z, dh, dz); break;
                case FeedForwardActivation.Gelu: Activations.GeluBackward(z, dh, dz, GeluApproximation.None); break;
                default: Activations.GeluBackward(z, dh, dz, GeluApproximation.Tanh); break;
            }
            dInput = Linear1.Backward(dPre);
        }
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }
}
