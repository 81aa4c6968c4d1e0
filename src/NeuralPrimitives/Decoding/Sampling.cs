// Sampling the next token from logits z ∈ ℝ^V, in Hugging Face's order of processors and warpers:
//
//   1. repetition penalty θ > 0 (CTRL, Keskar et al. 2019, with Hugging Face's semantics): for every token v
//      already in the context (prompt and generated tokens, each counted once)
//          z_v ← z_v / θ   if z_v > 0,        z_v ← z_v · θ   otherwise
//      so θ > 1 lowers the probability of a repeat whatever the sign of its logit; θ = 1 changes nothing.
//   2. temperature τ > 0:   z ← z / τ        (τ < 1 sharpens, τ > 1 flattens; τ = 0 is greedy: argmax z)
//   3. top-k (k ≥ 1):       keep the k largest z_v and set the others to −∞. Exactly k survive: among equal
//                           logits the lower token id ranks first (the same tie rule as argmax, so k = 1 is greedy).
//   4. softmax:             p_v = e^(z_v − m) / Σ_u e^(z_u − m),  m = max_u z_u      (Kernels/Softmax.cs)
//   5. top-p (nucleus, Holtzman et al. 2020), 0 < p ≤ 1: order the tokens by p_v descending (equal probabilities:
//      lower id first) and keep the shortest prefix v₁ … v_n whose total reaches p,
//          n = min { n : p_v₁ + … + p_vₙ ≥ p · Σ_u p_u },
//      set the other probabilities to 0 and renormalise. p = 1 keeps every token.
//   6. draw:                u ~ U[0, Σ p),  token = the first v (in id order) with p_0 + … + p_v > u
//                           (a token of probability 0 is never drawn).
// Every step is a public function on a row of doubles, so each can be checked (and used) on its own.
using System.Buffers;

namespace NeuralPrimitives;

/// <summary>
/// How <see cref="Generation"/> picks each next token: temperature, top-k, top-p (nucleus) and a repetition penalty.
/// Every property is checked when it is set (an <see cref="ArgumentOutOfRangeException"/> naming it).
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Greedy decoding: always the most likely token (temperature 0).</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>
    /// τ ≥ 0 (default 1): the logits are divided by τ before the softmax. 0 means greedy: the token with the
    /// largest (penalised) logit, ties to the lower id, with no random draw; top-k and top-p then change nothing.
    /// </summary>
    public double Temperature
    {
        get;
        init => field = Sampling.Require(value, value == 0 || Sampling.IsPositiveFinite(value), nameof(Temperature), "finite and ≥ 0 (0 = greedy)");
    } = 1;

    /// <summary>k ≥ 0 (default 0 = off): sample only among the k most likely tokens.</summary>
    public int TopK
    {
        get;
        init => field = value >= 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(TopK), value, $"{nameof(TopK)} must be ≥ 0 (0 = off), got {value}.");
    }

    /// <summary>p in (0, 1] (default 1 = off): sample only from the smallest set of most likely tokens whose probability reaches p.</summary>
    public double TopP
    {
        get;
        init => field = Sampling.Require(value, Sampling.IsTopP(value), nameof(TopP), "in (0, 1] (1 = off)");
    } = 1;

    /// <summary>θ &gt; 0 (default 1 = off): logits of tokens already in the context are divided by θ when positive and multiplied by θ otherwise.</summary>
    public double RepetitionPenalty
    {
        get;
        init => field = Sampling.Require(value, Sampling.IsPositiveFinite(value), nameof(RepetitionPenalty), "finite and > 0 (1 = off)");
    } = 1;
}

/// <summary>The steps of sampling (see <see cref="SamplingOptions"/>), each on one row of logits or probabilities.</summary>
public static class Sampling
{
    /// <summary>Step 1: <c>z_v ← z_v / θ</c> if <c>z_v &gt; 0</c>, else <c>z_v · θ</c>, for every token v with <c>seen[v]</c>.</summary>
    /// <param name="logits">One row of V logits, changed in place.</param>
    /// <param name="seen">Which tokens occurred in the context [V].</param>
    /// <param name="penalty">θ &gt; 0.</param>
    public static void ApplyRepetitionPenalty(Span<double> logits, ReadOnlySpan<bool> seen, double penalty)
    {
        Require(penalty, IsPositiveFinite(penalty), nameof(penalty), "finite and > 0");
        Guard.Length(seen.Length, logits.Length, nameof(seen));
        for (int v = 0; v < logits.Length; v++)
            if (seen[v]) logits[v] = logits[v] > 0 ? logits[v] / penalty : logits[v] * penalty;
    }

    /// <summary>Step 2: <c>z ← z / τ</c>.</summary>
    /// <param name="logits">One row of logits, changed in place.</param>
    /// <param name="temperature">τ &gt; 0 (τ = 0 is greedy and never reaches this step).</param>
    public static void ApplyTemperature(Span<double> logits, double temperature)
    {
        Require(temperature, IsPositiveFinite(temperature), nameof(temperature), "finite and > 0");
        TensorPrimitives.Divide(logits, temperature, logits);
    }

    /// <summary>Step 3: keeps exactly the <paramref name="k"/> largest logits (equal logits: lower id first) and sets the rest to −∞.</summary>
    /// <param name="logits">One row of logits, changed in place.</param>
    /// <param name="k">Number kept (≥ 1); k ≥ V keeps all.</param>
    public static void ApplyTopK(Span<double> logits, int k)
    {
        Guard.Positive(k);
        if (k >= logits.Length) return;
        int[] order = ArrayPool<int>.Shared.Rent(logits.Length);
        var sorted = order.AsSpan(0, logits.Length);
        SortDescending(logits, sorted);
        foreach (int v in sorted[k..]) logits[v] = double.NegativeInfinity;
        ArrayPool<int>.Shared.Return(order);
    }

    /// <summary>
    /// Step 5: keeps the shortest run of most likely tokens (equal probabilities: lower id first) whose total reaches
    /// <paramref name="p"/> of the row's total, sets the others to 0 and renormalises the row to sum to 1.
    /// </summary>
    /// <param name="probabilities">One row of non-negative weights (normally a softmax), changed in place.</param>
    /// <param name="p">In (0, 1]; 1 keeps every token.</param>
    public static void ApplyTopP(Span<double> probabilities, double p)
    {
        Require(p, IsTopP(p), nameof(p), "in (0, 1]");
        double total = TensorPrimitives.Sum<double>(probabilities);
        if (p < 1)
        {
            int[] order = ArrayPool<int>.Shared.Rent(probabilities.Length);
            var sorted = order.AsSpan(0, probabilities.Length);
            SortDescending(probabilities, sorted);
            double target = p * total, kept = 0;
            int n = 0;
            while (n < sorted.Length && kept < target) kept += probabilities[sorted[n++]];
            foreach (int v in sorted[n..]) probabilities[v] = 0;
            ArrayPool<int>.Shared.Return(order);
            total = kept;
        }
        TensorPrimitives.Divide(probabilities, total, probabilities);
    }

    /// <summary>Step 6: draws token v with probability <c>weights[v] / Σ weights</c> (weights need not be normalised).</summary>
    /// <param name="weights">Non-negative weights with a positive sum.</param>
    /// <param name="rng">The random source (one uniform draw).</param>
    public static int Draw(ReadOnlySpan<double> weights, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        double total = TensorPrimitives.Sum(weights);
        if (!(total > 0) || double.IsInfinity(total))
            throw new ArgumentException($"{nameof(weights)} must have a positive, finite sum, got {total}.", nameof(weights));
        double u = rng.NextDouble() * total, cumulative = 0;
        int last = -1;
        for (int v = 0; v < weights.Length; v++)
        {
            if (weights[v] <= 0) continue;
            cumulative += weights[v];
            if (cumulative > u) return v;
            last = v;
        }
        return last; // u fell past the rounded total: the last token with positive weight
    }

    /// <summary>The token with the largest logit; among equal logits, the lowest id (as <c>torch.argmax</c>).</summary>
    /// <param name="logits">One row of logits.</param>
    public static int Argmax(ReadOnlySpan<double> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException($"{nameof(logits)} must not be empty.", nameof(logits));
        int best = 0;
        for (int v = 1; v < logits.Length; v++)
            if (logits[v] > logits[best]) best = v;
        return best;
    }

    internal static bool IsPositiveFinite(double value) => value > 0 && !double.IsPositiveInfinity(value);

    internal static bool IsTopP(double p) => p > 0 && p <= 1;

    /// <summary>Returns <paramref name="value"/> if <paramref name="valid"/>, else throws naming <paramref name="name"/>, what was <paramref name="expected"/> and the value.</summary>
    internal static double Require(double value, bool valid, string name, string expected) =>
        valid ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be {expected}, got {value}.");

    /// <summary>Fills <paramref name="order"/> with 0..n−1 sorted by <paramref name="values"/> descending, equal values by ascending id.</summary>
    internal static void SortDescending(ReadOnlySpan<double> values, Span<int> order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var array = ArrayPool<double>.Shared.Rent(values.Length);
        values.CopyTo(array);
        order.Sort(new DescendingThenById(array));
        ArrayPool<double>.Shared.Return(array);
    }

    private readonly struct DescendingThenById(double[] values) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int byValue = values[b].CompareTo(values[a]);
            return byValue != 0 ? byValue : a.CompareTo(b);
        }
    }
}

/// <summary>Picks next tokens by a <see cref="SamplingOptions"/>, reusing one row of scratch (no allocation per token).</summary>
internal sealed class TokenSampler(SamplingOptions options, int vocabularySize, Rng rng)
{
    private readonly double[] _z = new double[vocabularySize];

    /// <summary>Applies steps 1–6 to <paramref name="logits"/> (left unchanged) and returns the chosen token.</summary>
    public int Next(ReadOnlySpan<double> logits, ReadOnlySpan<bool> seen)
    {
        var z = _z.AsSpan();
        logits.CopyTo(z);
        if (options.RepetitionPenalty != 1) Sampling.ApplyRepetitionPenalty(z, seen, options.RepetitionPenalty);
        if (options.Temperature == 0) return Sampling.Argmax(z);
        Sampling.ApplyTemperature(z, options.Temperature);
        if (options.TopK > 0) Sampling.ApplyTopK(z, options.TopK);
        Softmax.Forward<double>(z, z, z.Length);
        if (options.TopP < 1) Sampling.ApplyTopP(z, options.TopP);
        return Sampling.Draw(z, rng);
    }
}
