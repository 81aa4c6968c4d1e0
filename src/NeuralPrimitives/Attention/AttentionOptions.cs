// The knobs of scaled dot-product attention (PyTorch's F.scaled_dot_product_attention arguments plus
// this library's window, alignment and algorithm choice) and the named results of a forward and a
// backward pass. The equations they control are in ScaledDotProductAttention.cs.
namespace NeuralPrimitives;

/// <summary>Which algorithm computes the attention.</summary>
public enum AttentionAlgorithm
{
    /// <summary>The memory-efficient path when the weights are not requested, the exact path when they are.</summary>
    Auto,

    /// <summary>Materialises the scores and weights [.., Lq, Lk] (needed to return the weights).</summary>
    Exact,

    /// <summary>Blocked online softmax (FlashAttention-2 style): memory O(L·d), skips fully masked blocks; cannot return the weights.</summary>
    MemoryEfficient,
}

/// <summary>
/// Options of scaled dot-product attention (PyTorch's <c>F.scaled_dot_product_attention</c> keyword arguments and a few more).
/// Create one and reuse it: a call with the same instance allocates nothing for the options.
/// </summary>
public sealed record AttentionOptions
{
    private readonly double? _scale;
    private readonly double _dropoutP;

    /// <summary>The defaults: scale 1/√dk, no causal mask, no window, no dropout, no weights.</summary>
    public static AttentionOptions Default { get; } = new();

    /// <summary>Multiplies Q·Kᵀ; null means 1/√dk (PyTorch's <c>scale</c>). Must be finite.</summary>
    public double? Scale
    {
        get => _scale;
        init
        {
            if (value is { } v && !double.IsFinite(v))
                throw new ArgumentOutOfRangeException(nameof(Scale), v, $"{nameof(Scale)} must be a finite number, got {v}.");
            _scale = value;
        }
    }

    /// <summary>Applies a causal mask (PyTorch's <c>is_causal</c>); see <see cref="CausalAlignment"/>. May be combined with an explicit mask.</summary>
    public bool IsCausal { get; init; }

    /// <summary>Where the causal diagonal (and the window's centre) sits when Lq ≠ Lk; PyTorch's <c>is_causal</c> is <see cref="CausalAlignment.TopLeft"/>.</summary>
    public CausalAlignment CausalAlignment { get; init; } = CausalAlignment.TopLeft;

    /// <summary>A local (sliding) window each query is restricted to, applied without a mask tensor so blocks outside it are skipped.</summary>
    public AttentionWindow? Window { get; init; }

    /// <summary>
    /// Dropout probability on the attention weights, in [0, 1] (PyTorch's <c>dropout_p</c>). Kept weights are scaled by
    /// 1/(1 − p). The mask is a hash of (seed, head, query, key) with the seed drawn from <see cref="DropoutRng"/> once per
    /// call, so the exact and the memory-efficient paths drop the same weights and the backward pass needs no stored mask.
    /// </summary>
    public double DropoutP
    {
        get => _dropoutP;
        init
        {
            if (!(value >= 0 && value <= 1))
                throw new ArgumentOutOfRangeException(nameof(DropoutP), value, $"{nameof(DropoutP)} must be in [0, 1], got {value}.");
            _dropoutP = value;
        }
    }

    /// <summary>The random source of the dropout seed; <see cref="Rng.Default"/> when null. Not thread-safe: one per thread.</summary>
    public Rng? DropoutRng { get; init; }

    /// <summary>Also return the attention weights [..., Lq, Lk] (the ones multiplied with V, i.e. after dropout, as nn.MultiheadAttention returns them). Forces the exact path.</summary>
    public bool NeedWeights { get; init; }

    /// <summary>Allows k and v to have fewer heads than q (grouped-query attention, PyTorch's <c>enable_gqa</c>): query head h uses key/value head h / (Hq / Hkv).</summary>
    public bool EnableGqa { get; init; }

    /// <summary>Which algorithm runs (default <see cref="AttentionAlgorithm.Auto"/>).</summary>
    public AttentionAlgorithm Algorithm { get; init; }
}

/// <summary>The result of an attention forward pass.</summary>
/// <param name="Output">The attended values [..., Lq, dv] (or the module's output shape).</param>
/// <param name="Weights">The attention weights when requested, else null.</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct AttentionOutput<T>(Tensor<T> Output, Tensor<T>? Weights);

/// <summary>The gradients of scaled dot-product attention with respect to its three inputs.</summary>
/// <param name="DQuery">∂L/∂q, shaped like q.</param>
/// <param name="DKey">∂L/∂k, shaped like k.</param>
/// <param name="DValue">∂L/∂v, shaped like v.</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct AttentionGradients<T>(Tensor<T> DQuery, Tensor<T> DKey, Tensor<T> DValue);
