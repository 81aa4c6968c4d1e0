// A pre-norm GPT block (nanoGPT's Block, GPT-2's GPT2Block): each sub-layer reads a normalised copy of
// the residual stream and adds its result back, so the stream itself is never normalised and the
// gradient reaches every earlier block through the identity paths.
//
// Shapes:   x, y [B, L, C]
// Forward:  a  = attn(ln_1(x))          causal self-attention (GptAttention.cs)
//           x₁ = x + a                  residual
//           m  = mlp(ln_2(x₁))          GptMlp.cs
//           y  = x₁ + m                 residual
// Backward (given dy):
//           dx₁ = dy + ln_2.Backward(mlp.Backward(dy))
//           dx  = dx₁ + ln_1.Backward(attn.Backward(dx₁))
namespace NeuralPrimitives;

/// <summary>
/// A pre-norm transformer decoder block, <c>x + attn(ln_1(x))</c> then <c>x + mlp(ln_2(x))</c> (nanoGPT's <c>Block</c>):
/// children <c>ln_1</c>, <c>attn</c> (<see cref="GptAttention{T}"/>), <c>ln_2</c>, <c>mlp</c> (<see cref="GptMlp{T}"/>).
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GptBlock<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _x1 = new(), _output = new(), _dX1 = new(), _dInput = new();
    private Tensor<T>? _lastOutput;

    /// <summary>Creates the block with nanoGPT's initialisation.</summary>
    /// <param name="config">The model's configuration (C, H, G, bias, dropout, activation, ε, positions).</param>
    /// <param name="rotary">The rotary embedding when <paramref name="config"/> uses rotary positions, else null.</param>
    /// <param name="rng">Random source; <see cref="Rng.Default"/> when null.</param>
    public GptBlock(GptConfig config, RotaryEmbedding<T>? rotary = null, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate(nameof(config));
        rng ??= Rng.Default;
        Ln1 = RegisterModule("ln_1", new LayerNorm<T>(config.NEmbd, config.LayerNormEps, bias: config.Bias));
        Attn = RegisterModule("attn", new GptAttention<T>(config.NEmbd, config.NHead, config.KVHeads, config.NLayer, config.Bias, config.Dropout, rotary, rng));
        Ln2 = RegisterModule("ln_2", new LayerNorm<T>(config.NEmbd, config.LayerNormEps, bias: config.Bias));
        Mlp = RegisterModule("mlp", new GptMlp<T>(config.NEmbd, config.NLayer, config.Activation, config.Bias, config.Dropout, rng));
    }

    /// <summary><c>ln_1</c>, before the attention.</summary>
    public LayerNorm<T> Ln1 { get; }

    /// <summary><c>attn</c>, the causal self-attention.</summary>
    public GptAttention<T> Attn { get; }

    /// <summary><c>ln_2</c>, before the MLP.</summary>
    public LayerNorm<T> Ln2 { get; }

    /// <summary><c>mlp</c>.</summary>
    public GptMlp<T> Mlp { get; }

    /// <summary>Training forward.</summary>
    /// <param name="input">x [B, L, C] (kept by reference until <see cref="Backward"/>).</param>
    /// <returns>y [B, L, C] (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        var a = Attn.Forward(Ln1.Forward(input));
        var x1 = _x1.Get(input.Lengths);
        ParallelRanges.Add(input.AsReadOnlySpan(), a.AsReadOnlySpan(), x1.AsSpan());      // x₁ = x + a
        var m = Mlp.Forward(Ln2.Forward(x1));
        var output = _output.Get(input.Lengths);
        ParallelRanges.Add(x1.AsReadOnlySpan(), m.AsReadOnlySpan(), output.AsSpan());     // y = x₁ + m
        _lastOutput = output;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates every parameter's gradient and returns ∂L/∂x (module-owned).</summary>
    /// <param name="dOutput">∂L/∂y [B, L, C].</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.SameShape(_lastOutput!, dOutput, nameof(dOutput));
        var dm = Ln2.Backward(Mlp.Backward(dOutput));
        var dX1 = _dX1.Get(dOutput.Lengths);
        ParallelRanges.Add(dOutput.AsReadOnlySpan(), dm.AsReadOnlySpan(), dX1.AsSpan());  // dx₁ = dy + ∂(mlp∘ln_2)
        var da = Ln1.Backward(Attn.Backward(dX1));
        var dInput = _dInput.Get(dOutput.Lengths);
        ParallelRanges.Add(dX1.AsReadOnlySpan(), da.AsReadOnlySpan(), dInput.AsSpan());   // dx = dx₁ + ∂(attn∘ln_1)
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input) => Infer(input, null, null);

    /// <summary>Inference with an optional KV cache and attention weights (see <see cref="GptAttention{T}.Infer(Tensor{T}, KvCache{T}?, Tensor{T}?)"/>): a new tensor, thread-safe.</summary>
    /// <param name="input">x [B, Lnew, C].</param>
    /// <param name="cache">This block's cache, or null.</param>
    /// <param name="weights">Null, or a destination [B, H, Lnew, Lk] for the attention weights.</param>
    public Tensor<T> Infer(Tensor<T> input, KvCache<T>? cache, Tensor<T>? weights = null)
    {
        var x1 = Attn.Infer(Ln1.Infer(input), cache, weights);
        TensorPrimitives.Add(input.AsReadOnlySpan(), x1.AsReadOnlySpan(), x1.AsSpan());
        var m = Mlp.Infer(Ln2.Infer(x1));
        TensorPrimitives.Add(x1.AsReadOnlySpan(), m.AsReadOnlySpan(), m.AsSpan());
        return m;
    }
}
