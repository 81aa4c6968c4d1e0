// Cross-entropy's rows are split across threads; every row is computed alike whichever thread takes it and the
// losses are reduced in row order, so one and two threads give bit-identical results.
using static NeuralPrimitives.Tests.Support.GlobalStateCollection;

namespace NeuralPrimitives.Tests.Losses;

[Collection(GlobalStateCollection.Name)]
public class CrossEntropyThreadingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OneAndTwoThreadsGiveBitIdenticalResults(bool soft)
    {
        const int rows = 301, classes = 1000; // above the parallel threshold, rows not a multiple of the parts
        var rng = new Rng(21);
        var x = TestData.Tensor<float>(rng, rows, classes);
        var y = Tensor.Create(Enumerable.Range(0, rows).Select(i => i % 7 == 3 ? -100 : rng.NextInt(classes)).ToArray(), [rows]);
        var probs = TestData.Tensor<float>(rng, rows, classes);
        var w = Tensor.Create(Enumerable.Range(0, classes).Select(_ => (float)rng.Uniform(0.5, 2)).ToArray(), [classes]);
        var loss = new CrossEntropyLoss<float>(w, labelSmoothing: 0.1);
        (float Loss, float[] DLogits, float Inferred) Run()
        {
            float l = soft ? loss.Forward(x, probs) : loss.Forward(x, y);
            float i = soft ? loss.Infer(x, probs) : loss.Infer(x, y);
            return (l, loss.Backward().ToArray(), i);
        }

        var two = RetryUntilParallel(() => WithThreads(2, Run), parallelRuns: 2);
        var one = WithThreads(1, Run);
        Assert.Equal(one.Loss, two.Loss);
        Assert.Equal(one.Inferred, two.Inferred);
        Assert.Equal(one.Loss, one.Inferred);
        Assert.Equal(one.DLogits, two.DLogits);
        Assert.Equal(one.Loss, WithThreads(3, Run).Loss);
    }
}
