// Bad arguments to Gemm.Multiply: each names the argument, the expected and the actual value.

namespace NeuralPrimitives.Tests.Kernels;

public class GemmArgumentTests
{
    private static readonly float[] Big = new float[100];

    [Theory]
    [InlineData(-1, 2, 2, "m")]
    [InlineData(2, -3, 2, "n")]
    [InlineData(2, 2, -4, "k")]
    public void NegativeSizes(int m, int n, int k, string name)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, m, n, k, 1f, Big, 10, Big, 10, 0f, Big, 10));
        Assert.Equal(name, e.ParamName);
        Assert.Contains("≥ 0", e.Message);
        Assert.Contains($"got {Math.Min(m, Math.Min(n, k))}", e.Message);
    }

    [Theory]
    // ta, tb, m, n, k, lda, ldb, ldc, name, expected minimum
    [InlineData(false, false, 3, 4, 5, 4, 4, 4, "lda", 5)]    // A is 3×5
    [InlineData(true, false, 3, 4, 5, 2, 4, 4, "lda", 3)]     // A stored 5×3
    [InlineData(false, false, 3, 4, 5, 5, 3, 4, "ldb", 4)]    // B is 5×4
    [InlineData(false, true, 3, 4, 5, 5, 4, 4, "ldb", 5)]     // B stored 4×5
    [InlineData(false, false, 3, 4, 5, 5, 4, 3, "ldc", 4)]    // C is 3×4
    [InlineData(false, false, 3, 4, 0, 0, 4, 4, "lda", 0)]    // k = 0 still needs lda ≥ max(1, 0)
    public void LeadingDimensionTooSmall(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc, string name, int min)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(ta, tb, m, n, k, 1f, Big, lda, Big, ldb, 0f, Big, ldc));
        Assert.Equal(name, e.ParamName);
        Assert.Contains($"max(1, {min})", e.Message);
        Assert.Contains($"got {(name == "lda" ? lda : name == "ldb" ? ldb : ldc)}", e.Message);
    }

    [Theory]
    // A 3×5 (lda 6) needs 2·6 + 5 = 17; B 5×4 (ldb 4) needs 20; C 3×4 (ldc 7) needs 2·7 + 4 = 18.
    [InlineData(16, 20, 18, "a", 17)]
    [InlineData(17, 19, 18, "b", 20)]
    [InlineData(17, 20, 17, "c", 18)]
    public void SpanTooShort(int aLength, int bLength, int cLength, string name, int needed)
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Gemm.Multiply(false, false, 3, 4, 5, 1f, new float[aLength], 6, new float[bLength], 4, 0f, new float[cLength], 7));
        Assert.Equal(name, e.ParamName);
        int actual = name == "a" ? aLength : name == "b" ? bLength : cLength;
        Assert.Contains($"expected at least {needed} elements, got {actual}", e.Message);
    }

    [Fact]
    public void DenseOverloadChecksLengthsToo()
    {
        var e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 2, 1.0, new double[4], new double[3], 0.0, new double[4]));
        Assert.Equal("b", e.ParamName);
        Assert.Contains("got 3", e.Message);
    }

    [Theory]
    [MemberData(nameof(GemmTests.Transposes), MemberType = typeof(GemmTests))]
    public void DenseOverloadAcceptsEmptyProducts(bool ta, bool tb)
    {
        // k = 0: C = beta·C (no lda/ldb for the caller to get wrong); beta = 0 still overwrites NaN.
        float[] c = [1, 2, 3, 4, 5, 6];
        Gemm.Multiply(ta, tb, 2, 3, 0, 1f, [], [], 2f, c);
        Assert.Equal([2f, 4, 6, 8, 10, 12], c);
        float[] nan = [float.NaN, 1, 2, 3, 4, float.PositiveInfinity];
        Gemm.Multiply(ta, tb, 2, 3, 0, 1f, [], [], 0f, nan);
        Assert.Equal(new float[6], nan);
        // n = 0 and m = 0: nothing to compute, C untouched (and nothing read).
        float[] untouched = [7];
        Gemm.Multiply(ta, tb, 2, 0, 3, 1f, new float[6], [], 0f, untouched.AsSpan(0, 0));
        Gemm.Multiply(ta, tb, 0, 2, 3, 1f, [], new float[6], 0f, untouched.AsSpan(0, 0));
        Gemm.Multiply(ta, tb, 0, 0, 0, 1f, [], [], 0f, []);
        Assert.Equal([7f], untouched);
    }

    [Theory]
    [InlineData(0, 8, 2, "a")]   // A = buf[0..4], C = buf[2..6]: partial overlap
    [InlineData(0, 8, 0, "a")]   // C is A
    [InlineData(8, 0, 0, "b")]   // C is B
    [InlineData(12, 3, 6, "b")]  // B = buf[3..7], C = buf[6..10]: one shared element
    public void COverlappingAOrBIsRejected(int aStart, int bStart, int cStart, string name)
    {
        var buf = new float[32];
        var e = Assert.Throws<ArgumentException>(() =>
            Gemm.Multiply(false, false, 2, 2, 2, 1f, buf.AsSpan(aStart, 4), buf.AsSpan(bStart, 4), 0f, buf.AsSpan(cStart, 4)));
        Assert.Equal("c", e.ParamName);
        Assert.Contains($"c overlaps {name}", e.Message);
    }

    [Fact]
    public void DisjointPartsOfOneArrayAreFine()
    {
        float[] buf = [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0];
        Gemm.Multiply(false, false, 2, 2, 2, 1f, buf.AsSpan(0, 4), buf.AsSpan(4, 4), 0f, buf.AsSpan(8, 4));
        Assert.Equal([19f, 22, 43, 50], buf.AsSpan(8, 4).ToArray());
    }

    [Fact]
    public void OnlyTheElementsAMatrixSpansCountAsOverlap()
    {
        // A is 2×2 with lda = 2 inside a long span: it spans buf[0..4]; C = buf[10..14] lies in the span but not in A.
        var buf = new double[16];
        double[] aValues = [1, 2, 3, 4], bValues = [5, 6, 7, 8];
        aValues.CopyTo(buf, 0);
        Gemm.Multiply(false, false, 2, 2, 2, 1.0, buf.AsSpan(), 2, bValues, 2, 0.0, buf.AsSpan(10, 4), 2);
        Assert.Equal([19.0, 22, 43, 50], buf.AsSpan(10, 4).ToArray());
        // With lda = 12 the same 2×2 A spans buf[0..14], which holds C: rejected.
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 2, 1.0, buf.AsSpan(), 12, bValues, 2, 0.0, buf.AsSpan(10, 4), 2));
    }
}
