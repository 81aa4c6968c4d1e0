// The recurrent time loop split across threads by sequences (RecurrentTimeLoop.cs, RunTimeLoop): with two
// threads every output, state and gradient equals the one-thread run bit for bit, and the split
// path is proven to have run. Batches of 17, 20 and 21 give parts of 8 + 9, 10 + 10 and 10 + 11 sequences.
// Tests that change Parallelism.NumThreads run in the non-parallel GlobalStateCollection.
using static NeuralPrimitives.Tests.Recurrent.RecurrentTestUtil;

namespace NeuralPrimitives.Tests.Recurrent;

[Collection(GlobalStateCollection.Name)]
public class RecurrentThreadingTests
{
    private sealed record Run(double[] Y, double[] HN, double[]? CN, double[] DX, double[] DH0, double[]? DC0,
        double[][] Grads, double[] Norms, double[] InferY);

    private static Run TrainingStep(RefKind kind, int threads, bool bidirectional, int proj, bool withLengths, int batch) =>
        GlobalStateCollection.WithThreads(threads, () =>
        {
            const int Steps = 24, Input = 12, Hidden = 96;
            var layer = AnyLayer<double>.Create(kind, Input, Hidden, layers: 2, bidirectional: bidirectional, proj: proj, rng: new Rng(21));
            var rng = new Rng(22);
            int[]? lengths = withLengths ? Enumerable.Range(0, batch).Select(b => 1 + (b * 7) % Steps).ToArray() : null;
            var x = Ten(TestData.Normal(rng, Steps * batch * Input), layer.InputShape(Steps, batch));
            var h0 = Ten(TestData.Normal(rng, 2 * layer.D * batch * layer.P, 0.5), layer.HShape(batch));
            var c0 = layer.IsLstm ? Ten(TestData.Normal(rng, 2 * layer.D * batch * Hidden, 0.5), layer.CShape(batch)) : null;
            var dy = Ten(TestData.Normal(rng, Steps * batch * layer.D * layer.P), layer.OutputShape(Steps, batch));
            var dhN = Ten(TestData.Normal(rng, 2 * layer.D * batch * layer.P), layer.HShape(batch));

            var (y, hN, cN) = layer.Forward(x, h0, c0, lengths);
            var (dx, dh0, dc0) = layer.Backward(dy, dhN, layer.IsLstm ? c0 : null);
            var grads = layer.Module.NamedParameters().Select(p => p.Parameter.Grad.ToArray()).ToArray();
            var inferY = layer.Infer(x, h0, c0, lengths).Y.ToArray();
            return new Run(y.ToArray(), hN.ToArray(), cN?.ToArray(), dx.ToArray(), dh0.ToArray(), dc0?.ToArray(),
                grads, layer.Norms.ToArray(), inferY);
        });

    [Theory]
    [InlineData(RefKind.RnnTanh, false, 0, false, 20)]
    [InlineData(RefKind.RnnRelu, true, 0, true, 21)]
    [InlineData(RefKind.Lstm, false, 0, true, 20)]
    [InlineData(RefKind.Lstm, true, 40, true, 17)]
    [InlineData(RefKind.Gru, false, 0, false, 17)]
    [InlineData(RefKind.Gru, true, 0, true, 20)]
    public void TwoThreadsMatchOneThreadExactly(RefKind kind, bool bidirectional, int proj, bool withLengths, int batch)
    {
        var one = TrainingStep(kind, 1, bidirectional, proj, withLengths, batch);
        var two = GlobalStateCollection.RetryUntilParallel(() => TrainingStep(kind, 2, bidirectional, proj, withLengths, batch));

        Assert.Equal(one.Y, two.Y);
        Assert.Equal(one.HN, two.HN);
        Assert.Equal(one.CN, two.CN);
        Assert.Equal(one.DX, two.DX);
        Assert.Equal(one.DH0, two.DH0);
        Assert.Equal(one.DC0, two.DC0);
        Assert.Equal(one.Grads.Length, two.Grads.Length);
        for (int i = 0; i < one.Grads.Length; i++) Assert.Equal(one.Grads[i], two.Grads[i]);
        Assert.Equal(one.Norms, two.Norms);
        Assert.Equal(one.Y, one.InferY);       // the inference path (one step of caches) agrees too
        Assert.Equal(one.Y, two.InferY);
    }
}
