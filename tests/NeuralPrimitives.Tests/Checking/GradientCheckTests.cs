using NeuralPrimitives.Tests.Support;
using Xunit;

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
