using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace NeuralPrimitives.Tests.Attention;

/// <summary>Random attention problems, biased to the edges: one head, head dimension 1, Lq ≠ Lk, GQA ratios, masks with fully masked rows, windows.</summary>
public static class AttentionArbitraries
{
    private static Gen<AttentionWindow?> Window() =>
        Gen.OneOf(
            Gen.Constant<AttentionWindow?>(null),
            from left in Gen.Choose(0, 3)
            from right in Gen.Choose(0, 3)
            select (AttentionWindow?)new AttentionWindow(left, right));

    public static Arbitrary<AttentionCase> Case() =>
        (from outer in Gen.Choose(1, 2)
         from kvHeads in Gen.Elements(1, 1, 2, 3)
         from groupSize in Gen.Elements(1, 1, 2, 3)
         from lq in Gen.OneOf(Gen.Elements(1, 2, 7), Gen.Choose(1, 9))
         from lk in Gen.OneOf(Gen.Elements(1, 3, 8), Gen.Choose(1, 9))
         from dk in Gen.Elements(1, 2, 3, 5, 8)
         from dv in Gen.Elements(1, 2, 4, 7)
         from scale in Gen.Elements<double?>(null, null, 0.4, 1.3)
         from causal in Gen.Elements(false, true)
         from alignment in Gen.Elements(CausalAlignment.TopLeft, CausalAlignment.BottomRight)
         from window in Window()
         from mask in Gen.Elements(Enum.GetValues<MaskKind>())
         from maskShape in Gen.Elements(Enum.GetValues<MaskShape>())
         from fraction in Gen.Elements(0.2, 0.5, 0.9)
         select new AttentionCase(outer, kvHeads * groupSize, kvHeads, lq, lk, dk, dv, scale, causal, alignment, window, mask, maskShape, fraction))
        .ToArbitrary();
}

/// <summary>[Property] with the attention cases, the shared arbitraries and a bounded number of cases.</summary>
public sealed class AttentionPropertyAttribute : PropertyAttribute
{
    public AttentionPropertyAttribute()
    {
        Arbitrary = [typeof(AttentionArbitraries), typeof(Arbitraries)];
        MaxTest = 40;
    }
}
