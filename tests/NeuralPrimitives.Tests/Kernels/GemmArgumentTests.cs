// Bad arguments to Gemm.Multiply: each names the argument, the expected and the actual value.
using Xunit;

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
}
