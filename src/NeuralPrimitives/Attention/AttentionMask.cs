// Attention masks: which keys each query may look at, and the additive biases on the scores.
//
// Every mask becomes an additive term M on the scores before the softmax (ScaledDotProductAttention.cs):
//     S = scale·Q·Kᵀ + M,   M[q, k] = 0 (the pair takes part), −∞ (masked out), or any float (a bias)
// A −∞ score gets softmax weight e^(−∞) = 0, so a masked key contributes nothing to the output. A
// row whose every key is masked has no weights at all: this library returns zeros for it (output
// and gradients), where PyTorch returns NaN (0/0).
//
// Conventions (the same tensor of booleans means opposite things in PyTorch's two APIs, so a
// boolean mask here always says which one it follows):
//   AttentionMask.Keep(mask)     true = the pair TAKES PART        (PyTorch 2's scaled_dot_product_attention)
//   AttentionMask.Ignore(mask)   true = the pair is MASKED OUT     (nn.MultiheadAttention's attn_mask and key_padding_mask)
//   AttentionMask.Additive(bias) M = bias                           (both APIs' float masks)
// A mask broadcasts (NumPy rules, aligned from the right) to the scores' shape [..., Lq, Lk].
//
// Structural masks, applied without any tensor (so the memory-efficient path can skip whole blocks):
//   causal, top-left (PyTorch's is_causal):   query q sees keys k ≤ q
//   causal, bottom-right (decoding, Lq ≤ Lk): query q sees keys k ≤ q + (Lk − Lq): the last query is
//                                             aligned with the last key, as when q holds the newest
//                                             Lq positions of a sequence whose first Lk − Lq are cached
//   local window (Longformer's sliding window) of Left/Right keys: q + o − Left ≤ k ≤ q + o + Right,
//                                             o = 0 (top-left) or Lk − Lq (bottom-right); with causal, Right = 0.
// StructuralMask holds this rule once: KeyRange(q) gives the keys a query sees, QueryRange(k) the
// queries that see a key (the same inequalities solved for q), BlockIsMasked/BlockIsVisible classify
// a rectangle of the score matrix.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>Where the causal diagonal sits when the query and key lengths differ.</summary>
public enum CausalAlignment
{
    /// <summary>Query <c>q</c> sees keys <c>k ≤ q</c> (PyTorch's <c>is_causal=True</c>, <c>torch.ones(L, S).tril()</c>).</summary>
    TopLeft,

    /// <summary>
    /// Query <c>q</c> sees keys <c>k ≤ q + (Lk − Lq)</c>: the last query lines up with the last key (PyTorch's
    /// <c>causal_lower_right</c>). This is the mask for decoding with a KV cache, where the Lq new queries are the
    /// newest positions of a sequence whose first Lk − Lq keys are already cached.
    /// </summary>
    BottomRight,
}

/// <summary>
/// A local (sliding) attention window, Longformer's: query <c>q</c> sees keys from <c>q − Left</c> to <c>q + Right</c>
/// (shifted by <c>Lk − Lq</c> with <see cref="CausalAlignment.BottomRight"/>). Combined with causal attention,
/// <c>Right</c> is 0 (Mistral's sliding window).
/// </summary>
public readonly record struct AttentionWindow
{
    /// <summary>Creates a window.</summary>
    /// <param name="left">Keys before the query's own position that it sees (≥ 0).</param>
    /// <param name="right">Keys after the query's own position that it sees (≥ 0).</param>
    public AttentionWindow(int left, int right)
    {
        Left = Guard.NonNegative(left);
        Right = Guard.NonNegative(right);
    }

    /// <summary>Keys before the query's position that it sees.</summary>
    public int Left { get; }

    /// <summary>Keys after the query's position that it sees.</summary>
    public int Right { get; }

    /// <summary>Longformer's window of <c>2·halfWidth + 1</c> keys centred on the query.</summary>
    /// <param name="halfWidth">Keys seen on each side (≥ 0).</param>
    public static AttentionWindow Symmetric(int halfWidth) => new(halfWidth, halfWidth);
}

/// <summary>What the values of an <see cref="AttentionMask{T}"/> mean.</summary>
public enum AttentionMaskKind
{
    /// <summary>Booleans, <c>true</c> = the (query, key) pair takes part (PyTorch's <c>scaled_dot_product_attention</c>).</summary>
    Keep,

    /// <summary>Booleans, <c>true</c> = the pair is masked out (PyTorch's <c>nn.MultiheadAttention</c> <c>attn_mask</c> and <c>key_padding_mask</c>).</summary>
    Ignore,

    /// <summary>Floats added to the scores (0 = no change, −∞ = masked out).</summary>
    Additive,
}

/// <summary>
/// An attention mask over scores [..., Lq, Lk]: booleans with an explicit meaning, or additive floats. It broadcasts to
/// the scores' shape (NumPy rules: aligned from the right, a dimension matches if equal or 1).
/// </summary>
/// <remarks>
/// <para>Booleans carry their convention because PyTorch uses both: <see cref="Keep"/> (true = take part) is
/// <c>F.scaled_dot_product_attention</c>'s; <see cref="Ignore"/> (true = masked out) is <c>nn.MultiheadAttention</c>'s
/// for <c>attn_mask</c> and <c>key_padding_mask</c>. A float tensor converts implicitly to <see cref="Additive"/>.</para>
/// <para>A row whose keys are all masked gives zeros (output and gradients); PyTorch gives NaN there.</para>
/// </remarks>
/// <typeparam name="T">Element type of the scores.</typeparam>
public readonly struct AttentionMask<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private AttentionMask(AttentionMaskKind kind, Tensor<bool>? boolean, Tensor<T>? bias)
    {
        Kind = kind;
        Boolean = boolean;
        Bias = bias;
    }

    /// <summary>A boolean mask where <c>true</c> means the (query, key) pair takes part (PyTorch's <c>scaled_dot_product_attention</c>).</summary>
    /// <param name="keep">Broadcastable to [..., Lq, Lk].</param>
    public static AttentionMask<T> Keep(Tensor<bool> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        return new(AttentionMaskKind.Keep, keep, null);
    }

    /// <summary>A boolean mask where <c>true</c> means the pair is masked out (PyTorch's <c>nn.MultiheadAttention</c> convention).</summary>
    /// <param name="ignore">Broadcastable to [..., Lq, Lk].</param>
    public static AttentionMask<T> Ignore(Tensor<bool> ignore)
    {
        ArgumentNullException.ThrowIfNull(ignore);
        return new(AttentionMaskKind.Ignore, ignore, null);
    }

    /// <summary>Floats added to the scores (use −∞ to mask a pair out).</summary>
    /// <param name="bias">Broadcastable to [..., Lq, Lk].</param>
    public static AttentionMask<T> Additive(Tensor<T> bias)
    {
        ArgumentNullException.ThrowIfNull(bias);
        return new(AttentionMaskKind.Additive, null, bias);
    }

    /// <summary>A float tensor is an additive mask.</summary>
    public static implicit operator AttentionMask<T>(Tensor<T> bias) => Additive(bias);

    /// <summary>What the values mean.</summary>
    public AttentionMaskKind Kind { get; }

    /// <summary>The booleans (<see cref="AttentionMaskKind.Keep"/> or <see cref="AttentionMaskKind.Ignore"/>), else null.</summary>
    public Tensor<bool>? Boolean { get; }

    /// <summary>The additive floats (<see cref="AttentionMaskKind.Additive"/>), else null.</summary>
    public Tensor<T>? Bias { get; }

    /// <summary>The mask's shape.</summary>
    public ReadOnlySpan<nint> Lengths => Boolean is not null ? Boolean.Lengths : Bias is not null ? Bias.Lengths : default;

    internal bool IsEmpty => Boolean is null && Bias is null;
}

/// <summary>Builders for common masks (boolean tensors in the <see cref="AttentionMaskKind.Keep"/> convention: true = take part).</summary>
public static class AttentionMask
{
    /// <summary>The causal mask [Lq, Lk]: query q sees keys k ≤ q (top-left) or k ≤ q + Lk − Lq (bottom-right). True = take part.</summary>
    /// <param name="queryLength">Lq (≥ 1).</param>
    /// <param name="keyLength">Lk (≥ 1).</param>
    /// <param name="alignment">Where the diagonal sits.</param>
    public static Tensor<bool> Causal(int queryLength, int keyLength, CausalAlignment alignment = CausalAlignment.TopLeft)
    {
        Guard.Positive(queryLength);
        Guard.Positive(keyLength);
        return Build(StructuralMask.Create(queryLength, keyLength, true, alignment, null, keyLength), queryLength, keyLength);
    }

    /// <summary>
    /// A local (sliding-window) mask [Lq, Lk], Longformer's: query q sees keys q + o − Left … q + o + Right, o = 0 (top-left)
    /// or Lk − Lq (bottom-right); with <paramref name="causal"/> also no key after q + o. True = take part.
    /// </summary>
    /// <param name="queryLength">Lq (≥ 1).</param>
    /// <param name="keyLength">Lk (≥ 1).</param>
    /// <param name="window">How far each query sees to each side.</param>
    /// <param name="causal">Also hide keys after the query's position.</param>
    /// <param name="alignment">Where the diagonal sits.</param>
    public static Tensor<bool> SlidingWindow(int queryLength, int keyLength, AttentionWindow window, bool causal = false, CausalAlignment alignment = CausalAlignment.TopLeft)
    {
        Guard.Positive(queryLength);
        Guard.Positive(keyLength);
        return Build(StructuralMask.Create(queryLength, keyLength, causal, alignment, window, keyLength), queryLength, keyLength);
    }

    /// <summary>
    /// Turns PyTorch's <c>key_padding_mask</c> [N, S] (true = padding, ignore that key) into a
    /// <see cref="AttentionMaskKind.Keep"/> mask [N, 1, 1, S] (true = take part) that broadcasts over heads and queries of
    /// scores [N, H, L, S]: the two conventions side by side.
    /// </summary>
    /// <param name="keyPaddingMask">[N, S], true where the key is padding.</param>
    public static Tensor<bool> KeepFromKeyPadding(Tensor<bool> keyPaddingMask)
    {
        Guard.MinRank(keyPaddingMask, 2, nameof(keyPaddingMask));
        if (keyPaddingMask.Rank != 2)
            throw new ArgumentException($"{nameof(keyPaddingMask)} must be [N, S], got shape {Shapes.Format(keyPaddingMask.Lengths)}.", nameof(keyPaddingMask));
        var src = keyPaddingMask.AsReadOnlySpan();
        var keep = new bool[src.Length];
        for (int i = 0; i < keep.Length; i++) keep[i] = !src[i];
        return Tensor.Create(keep, [keyPaddingMask.Lengths[0], 1, 1, keyPaddingMask.Lengths[1]]);
    }

    private static Tensor<bool> Build(StructuralMask rule, int lq, int lk)
    {
        var keep = new bool[checked(lq * lk)];
        for (int q = 0; q < lq; q++)
        {
            var (lo, hi) = rule.KeyRange(q, lk);
            keep.AsSpan(q * lk + lo, Math.Max(0, hi - lo)).Fill(true);
        }
        return Tensor.Create(keep, [lq, lk]);
    }
}

/// <summary>
/// The structural part of a mask (causal diagonal and local window) as one inequality: query q sees key k iff
/// <c>k ≥ MaskedKeys</c> or <c>q + Lo ≤ k ≤ q + Hi</c>. Keys from <see cref="MaskedKeys"/> on are never masked
/// (the positions nn.MultiheadAttention appends for <c>add_bias_kv</c> / <c>add_zero_attn</c>).
/// </summary>
internal readonly record struct StructuralMask(long Lo, long Hi, int MaskedKeys)
{
    private const long Unbounded = 1L << 40;

    /// <summary>No structural mask: every key visible.</summary>
    public static StructuralMask None(int maskedKeys) => new(-Unbounded, Unbounded, maskedKeys);

    /// <summary>Whether every key is visible to every query.</summary>
    public bool IsNone => Lo <= -Unbounded && Hi >= Unbounded;

    /// <summary>The rule for a causal mask and/or a window, with the diagonal at offset 0 (top-left) or Lk − Lq (bottom-right).</summary>
    public static StructuralMask Create(int lq, int lk, bool causal, CausalAlignment alignment, AttentionWindow? window, int maskedKeys)
    {
        long diagonal = alignment == CausalAlignment.BottomRight ? (long)lk - lq : 0;
        long lo = -Unbounded, hi = Unbounded;
        if (causal) hi = diagonal;
        if (window is { } w)
        {
            lo = diagonal - w.Left;
            hi = Math.Min(hi, diagonal + w.Right);
        }
        return new(lo, hi, maskedKeys);
    }

    /// <summary>The keys [lo, hi) below <see cref="MaskedKeys"/> that query <paramref name="q"/> sees (empty when lo ≥ hi).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int Lo, int Hi) KeyRange(int q, int lk)
    {
        long end = Math.Min(lk, MaskedKeys);
        return ((int)Math.Clamp(q + Lo, 0, end), (int)Math.Clamp(q + Hi + 1, 0, end));
    }

    /// <summary>The queries [lo, hi) that see key <paramref name="k"/> (k &lt; <see cref="MaskedKeys"/>): the same inequality solved for q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int Lo, int Hi) QueryRange(int k, int lq) =>
        ((int)Math.Clamp(k - Hi, 0, lq), (int)Math.Clamp(k - Lo + 1, 0, lq));

    /// <summary>Whether no query in [q0, q1) sees any key in [k0, k1) (the block can be skipped).</summary>
    public bool BlockIsMasked(int q0, int q1, int k0, int k1) =>
        k1 <= MaskedKeys && ((q1 - 1) + Hi < k0 || q0 + Lo > k1 - 1);

    /// <summary>Whether every query in [q0, q1) sees every key in [k0, k1) (no structural masking needed).</summary>
    public bool BlockIsVisible(int q0, int q1, int k0, int k1) =>
        k0 >= MaskedKeys || ((q1 - 1) + Lo <= k0 && q0 + Hi >= Math.Min(k1, MaskedKeys) - 1);
}

/// <summary>Up to <see cref="MaskView{T}.MaxLeadDims"/> ints stored inline (no allocation per call).</summary>
[InlineArray(MaskView<float>.MaxLeadDims)]
internal struct LeadInts
{
    private int _element;
}

/// <summary>
/// How the kernels read an explicit mask broadcast to the scores [lead..., Lq, Lk]: the value for head index bh
/// (row-major over the lead dimensions), query q and key k is at <c>Offset(bh) + q·QStride + k·KStride</c>, where a
/// broadcast dimension has stride 0. <see cref="Bias"/> turns a stored value into the additive term of the scores.
/// </summary>
internal struct MaskView<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public const int MaxLeadDims = 8;

    public Tensor<bool>? Boolean;
    public Tensor<T>? Additive;
    public bool TrueMeansKeep;
    public int QStride, KStride;
    private LeadInts _lengths, _strides;
    private int _count;

    public readonly bool IsActive => Boolean is not null || Additive is not null;

    /// <summary>Start of head <paramref name="bh"/>'s [Lq, Lk] slice: bh decomposed over the lead lengths, times the strides.</summary>
    public readonly int Offset(int bh)
    {
        int offset = 0;
        for (int d = _count - 1; d >= 0; d--)
        {
            int length = _lengths[d];
            offset += bh % length * _strides[d];
            bh /= length;
        }
        return offset;
    }

    /// <summary>The additive term for the stored value at <paramref name="index"/>: the float itself, or 0 / −∞ for a boolean.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T Bias(ReadOnlySpan<bool> booleans, ReadOnlySpan<T> additive, int index) =>
        Additive is not null ? additive[index] : booleans[index] == TrueMeansKeep ? T.Zero : T.NegativeInfinity;

    /// <summary>
    /// A view of <paramref name="mask"/> broadcast (NumPy rules) to scores [<paramref name="lead"/>..., lq, lk]. With
    /// <paramref name="asShape"/> the stored values are read as that shape instead (same element count, e.g. a [N, S]
    /// key padding mask read as [N, 1, 1, S]).
    /// </summary>
    public static MaskView<T> Broadcast(AttentionMask<T> mask, ReadOnlySpan<int> lead, int lq, int lk, string paramName, ReadOnlySpan<nint> asShape = default)
    {
        if (mask.IsEmpty) throw new ArgumentException($"{paramName} holds no tensor (create it with AttentionMask<T>.Keep, Ignore or Additive).", paramName);
        if (lead.Length > MaxLeadDims)
            throw new ArgumentException($"{paramName}: scores with more than {MaxLeadDims} leading dimensions are not supported, got {lead.Length}.", paramName);
        var shape = asShape.IsEmpty ? mask.Lengths : asShape;
        Span<int> target = stackalloc int[lead.Length + 2];
        lead.CopyTo(target);
        target[^2] = lq;
        target[^1] = lk;
        bool fits = shape.Length <= target.Length;
        for (int i = 1; fits && i <= shape.Length; i++)
            fits = shape[^i] == 1 || shape[^i] == target[^i];
        if (!fits)
            throw new ArgumentException(
                $"{paramName} of shape {Shapes.Format(shape)} does not broadcast to the scores' shape {Shapes.Format(target)} ([..., Lq, Lk]).", paramName);

        // Row-major strides of the stored mask, aligned to the target's dimensions; broadcast dimensions get stride 0.
        Span<int> strides = stackalloc int[target.Length];
        int stride = 1;
        for (int i = 1; i <= target.Length; i++)
        {
            bool present = i <= shape.Length;
            int length = present ? (int)shape[^i] : 1;
            strides[^i] = present && length != 1 ? stride : 0;
            stride *= length;
        }
        var view = new MaskView<T>
        {
            Boolean = mask.Boolean,
            Additive = mask.Bias,
            TrueMeansKeep = mask.Kind == AttentionMaskKind.Keep,
            QStride = strides[^2],
            KStride = strides[^1],
            _count = lead.Length,
        };
        for (int d = 0; d < lead.Length; d++)
        {
            view._lengths[d] = lead[d];
            view._strides[d] = strides[d];
        }
        if (!(mask.Boolean?.IsDense ?? mask.Bias!.IsDense)) // a strided tensor is refused here, where it enters
            throw new ArgumentException($"{paramName} of shape {Shapes.Format(mask.Lengths)} is not dense (contiguous row-major); call ToDenseTensor() first.", paramName);
        return view;
    }
}
