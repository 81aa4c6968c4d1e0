namespace NeuralPrimitives.Tests.Attention;

// The block classification the memory-efficient path skips blocks by, against the pairwise rule (brute force).
public class StructuralMaskTests
{
    [NpProperty]
    public void BlockClassificationMatchesEveryPair(SmallDim lq, Dim lk, bool causal, bool bottomRight, SmallDim left, SmallDim right, bool window, SmallDim exempt, Seed seed)
    {
        var rng = seed.Rng();
        int maskedKeys = Math.Max(0, lk - (exempt - 1) / 3);
        var rule = StructuralMask.Create(lq, lk, causal, bottomRight ? CausalAlignment.BottomRight : CausalAlignment.TopLeft,
            window ? new AttentionWindow(left - 1, right - 1) : null, maskedKeys);
        var keep = AttentionMask.SlidingWindow(lq, lk, window ? new AttentionWindow(left - 1, right - 1) : new AttentionWindow(lq + lk, lq + lk), causal,
            bottomRight ? CausalAlignment.BottomRight : CausalAlignment.TopLeft).ToArray();
        bool Visible(int q, int k) => k >= maskedKeys || keep[q * lk + k];
        for (int trial = 0; trial < 20; trial++)
        {
            int q0 = rng.NextInt(lq), q1 = q0 + 1 + rng.NextInt(lq - q0), k0 = rng.NextInt(lk), k1 = k0 + 1 + rng.NextInt(lk - k0);
            bool any = false, all = true;
            for (int q = q0; q < q1; q++)
                for (int k = k0; k < k1; k++)
                {
                    any |= Visible(q, k);
                    all &= Visible(q, k);
                }
            Assert.Equal(!any, rule.BlockIsMasked(q0, q1, k0, k1));
            Assert.Equal(all, rule.BlockIsVisible(q0, q1, k0, k1));
            for (int q = q0; q < q1; q++)
            {
                var (lo, hi) = rule.KeyRange(q, lk);
                for (int k = 0; k < maskedKeys; k++) Assert.Equal(keep[q * lk + k], k >= lo && k < hi);
            }
            for (int k = k0; k < Math.Min(k1, maskedKeys); k++)
            {
                var (lo, hi) = rule.QueryRange(k, lq);
                for (int q = 0; q < lq; q++) Assert.Equal(keep[q * lk + k], q >= lo && q < hi);
            }
        }
    }
}
