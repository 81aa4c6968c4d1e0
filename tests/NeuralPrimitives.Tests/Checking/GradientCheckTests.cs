namespace NeuralPrimitives.Tests.Checking;

public class GradientCheckTests
{
    /// <summary>A deliberately wrong Linear: its weight gradient is off by a factor.</summary>
    private sealed class BrokenScale : Module<double>, ILayer<double>
    {
        private readonly Parameter<double> _w = new("weight", 1);
        private Tensor<double>? _x;
        public BrokenScale(double w, double gradFactor) { _w.Data[0] = w; GradFactor = gradFactor; }
        public double GradFactor { get; }
        protected override IEnumerable<Parameter<double>> OwnParameters() { yield return _w; }
        public Tensor<double> Forward(Tensor<double> input) { _x = input; return Infer(input); }
        public Tensor<double> Infer(Tensor<double> input) => Tensor.Create(input.ToArray().Select(v => _w.Data[0] * v * v).ToArray(), input.Lengths);
        public Tensor<double> Backward(Tensor<double> dOutput)
        {
            var x = _x!.ToArray(); var dy = dOutput.ToArray();
            for (int i = 0; i < x.Length; i++) _w.Grad[0] += GradFactor * dy[i] * x[i] * x[i];
            return Tensor.Create(x.Select((v, i) => 2 * _w.Data[0] * v * dy[i]).ToArray(), dOutput.Lengths);
        }
    }

    [Fact]
    public void CorrectBackwardPasses()
    {
        var r = GradientCheck.Run(new BrokenScale(1.7, 1.0), TestData.Tensor<double>(new Rng(1), 2, 3));
        Assert.True(r.Passed, r.ToString());
    }

    [Theory]
    [InlineData(1.01)]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    public void WrongParameterGradientIsCaught(double factor)
    {
        var r = GradientCheck.Run(new BrokenScale(1.7, factor), TestData.Tensor<double>(new Rng(1), 2, 3));
        Assert.False(r.Passed);
        var w = Assert.Single(r.Tensors, t => t.Name == "weight");
        Assert.False(w.Passed);
        Assert.True(r.Tensors.Single(t => t.Name == "input").Passed);
        Assert.Throws<InvalidOperationException>(r.EnsurePassed);
        Assert.Contains("FAIL weight", r.ToString());
    }

    // y = x (identity); Backward returns the gradient computed by `analytic`, Forward may poison the loss.
    private static GradientCheckProblem Identity(Func<double[], double[]> analytic, Func<double[], double[]>? forward = null)
    {
        var x = new double[] { 0.3, -1.2, 2.0 };
        return new GradientCheckProblem
        {
            Inputs = [("x", x)],
            Parameters = [],
            Forward = () => [forward is null ? (double[])x.Clone() : forward(x)],
            Backward = d => [analytic(d[0])],
        };
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void NonFiniteAnalyticGradientFails(double bad)
    {
        var r = GradientCheck.Run(Identity(d => { var g = (double[])d.Clone(); g[1] = bad; return g; }));
        Assert.False(r.Passed, r.ToString());
        Assert.Equal(1, r.Tensors[0].WorstIndex);
        Assert.Equal(bad, r.Tensors[0].Analytic);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void NonFiniteNumericGradientFails(double bad)
    {
        // The loss blows up to NaN or ∞ just above x[2] = 2 (a forward that overflows there): the numeric gradient of
        // x[2] is not finite, and the check fails there even though the analytic gradient is the right one elsewhere.
        var r = GradientCheck.Run(Identity(d => (double[])d.Clone(), x => x.Select((v, i) => i == 2 && v > 2.0 ? bad : v).ToArray()));
        Assert.False(r.Passed, r.ToString());
        Assert.Equal(2, r.Tensors[0].WorstIndex);
        Assert.False(double.IsFinite(r.Tensors[0].Numeric));
    }

    [Fact]
    public void BadOptionsAreRejected()
    {
        var p = Identity(d => d);
        foreach (var o in new[] { new GradientCheckOptions { Epsilon = 0 }, new GradientCheckOptions { Epsilon = double.NaN },
                     new GradientCheckOptions { AbsoluteTolerance = double.NaN }, new GradientCheckOptions { RelativeTolerance = -1 },
                     new GradientCheckOptions { MaxElementsPerTensor = -1 } })
            Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => GradientCheck.Run(p, o)).ParamName);
        Assert.True(GradientCheck.Run(p).Passed);
    }

    [Fact]
    public void WrongInputGradientIsCaught()
    {
        // Softmax forward with the log-softmax backward: inputs must fail.
        var x = new double[6]; new Rng(2).FillNormal<double>(x);
        var y = new double[6];
        var problem = new GradientCheckProblem
        {
            Inputs = [("x", x)],
            Parameters = [],
            Forward = () => { Softmax.Forward<double>(x, y, 3); return [(double[])y.Clone()]; },
            Backward = d => { var dx = new double[6]; Softmax.LogBackward<double>(y.Select(v => Math.Log(v)).ToArray(), d[0], dx, 3); return [dx]; },
        };
        var r = GradientCheck.Run(problem);
        Assert.False(r.Passed);
    }

    [Fact]
    public void SamplingLimitsTheElementsChecked()
    {
        int forwards = 0;
        var x = new double[1000];
        var problem = new GradientCheckProblem
        {
            Inputs = [("x", x)],
            Parameters = [],
            Forward = () => { forwards++; return [x.Select(v => 3 * v).ToArray()]; },
            Backward = d => [d[0].Select(v => 3 * v).ToArray()],
        };
        var r = GradientCheck.Run(problem, new GradientCheckOptions { MaxElementsPerTensor = 10 });
        Assert.True(r.Passed);
        Assert.InRange(forwards, 3, 1 + 2 * 10);
    }
}
