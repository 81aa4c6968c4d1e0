namespace NeuralPrimitives.Tests.Kernels;

public class SoftmaxTests
{
    [NpProperty]
    public void RowsSumToOneAndAreShiftInvariant(SmallDim rows, Dim n, Seed seed)
    {
        var rng = seed.Rng();
        var x = TestData.Normal(rng, rows * n, 3);
        var y = new double[x.Length];
        Softmax.Forward<double>(x, y, n);
        for (int r = 0; r < rows; r++) Assert.Equal(1.0, y.AsSpan(r * n, n).ToArray().Sum(), 12);
        double shift = rng.Uniform(-1000, 1000);
        var shifted = x.Select(v => v + shift).ToArray();
        var y2 = new double[x.Length];
        Softmax.Forward<double>(shifted, y2, n);
        TestData.AssertClose<double>(y, y2, 1e-9);
    }

    [NpProperty]
    public void LogSoftmaxIsLogOfSoftmax(SmallDim rows, Dim n, Seed seed)
    {
        var x = TestData.Normal(seed.Rng(), rows * n, 5);
        var y = new double[x.Length]; var ly = new double[x.Length];
        Softmax.Forward<double>(x, y, n);
        Softmax.LogForward<double>(x, ly, n);
        TestData.AssertClose<double>(y.Select(v => Math.Log(v)).ToArray(), ly, 1e-12, 1e-12);
    }

    [Fact]
    public void HugeInputsStayFiniteAndCorrect()
    {
        // x = [1e4, 1e4 - 1, -1e4]: softmax = [1, e^-1, 0] / (1 + e^-1); TensorPrimitives.SoftMax gives NaN here.
        float[] x = [1e4f, 1e4f - 1, -1e4f];
        var y = new float[3]; var ly = new float[3];
        Softmax.Forward<float>(x, y, 3);
        Softmax.LogForward<float>(x, ly, 3);
        double z = 1 + Math.Exp(-1);
        TestData.AssertClose<float>([(float)(1 / z), (float)(Math.Exp(-1) / z), 0f], y, 1e-6);
        TestData.AssertClose<float>([(float)-Math.Log(z), (float)(-1 - Math.Log(z)), (float)(-2e4 - Math.Log(z))], ly, 1e-3, 1e-6);
    }

    [NpProperty]
    public void GradientChecksPass(SmallDim rows, SmallDim n, Seed seed)
    {
        var rng = seed.Rng();
        var x = TestData.Tensor<double>(rng, rows, n);
        var r1 = GradientCheck.Run(new Softmax<double>(), x);
        Assert.True(r1.Passed, r1.ToString());
        var r2 = GradientCheck.Run(new LogSoftmax<double>(), x);
        Assert.True(r2.Passed, r2.ToString());
    }

    [Fact]
    public void BadShapesAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Softmax.Forward<float>(new float[7], new float[7], 3));
        Assert.Contains("multiple", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => Softmax.Forward<float>(new float[6], new float[5], 3));
        Assert.Equal("y", e2.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Softmax.LogForward<float>(new float[6], new float[6], 0));
    }
}
