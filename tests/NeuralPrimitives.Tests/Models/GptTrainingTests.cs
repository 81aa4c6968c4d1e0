using System.Diagnostics;
using Xunit.Abstractions;

namespace NeuralPrimitives.Tests.Models;

// Gpt<T> training: a small model learns a character text (seeded, to a stated loss, in seconds); a training step
// allocates nothing after warm-up; the float GELU kernel the MLP uses agrees with the double one.
public class GptTrainingTests(ITestOutputHelper output)
{
    private const string Text =
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, " +
        "it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of " +
        "Darkness, it was the spring of hope, it was the winter of despair, we had everything before us, we had nothing " +
        "before us, we were all going direct to Heaven, we were all going direct the other way.";

    private static Action Step(Gpt<float> model, Tensor<int> inputs, Tensor<int> targets, Func<float, float>? onLoss = null)
    {
        var parameters = model.Parameters().ToArray();
        var lossFn = new CrossEntropyLoss<float>();
        var optimizer = new AdamW<float>(parameters, lr: 3e-3);
        return () =>
        {
            float loss = lossFn.Forward(model.Forward(inputs), targets);
            model.Backward(lossFn.Backward());
            GradientClipping.ClipGradNorm(parameters, maxNorm: 1.0);
            optimizer.Step();
            optimizer.ZeroGrad();
            onLoss?.Invoke(loss);
        };
    }

    [Fact]
    [Trait(TestCategories.Category, TestCategories.Long)]
    public void SmallGptLearnsACharacterText()
    {
        var vocab = Text.Distinct().Order().ToArray();
        var ids = Text.Select(c => Array.IndexOf(vocab, c)).ToArray();
        const int l = 32, b = 16, steps = 200;
        var model = new Gpt<float>(new GptConfig(vocab.Length, l, NLayer: 2, NHead: 4, NEmbd: 48), seed: 1);
        var rng = new Rng(2);
        var x = new int[b * l];
        var y = new int[b * l];
        var inputs = Tensor.Create(x, [b, l]);
        var targets = Tensor.Create(y, [b, l]);
        float last = float.NaN;
        var step = Step(model, inputs, targets, loss => last = loss);
        var clock = Stopwatch.StartNew();
        float first = float.NaN;
        for (int s = 0; s < steps; s++)
        {
            for (int i = 0; i < b; i++)   // random windows of the text; targets are the next characters
            {
                int start = rng.NextInt(ids.Length - l - 1);
                for (int t = 0; t < l; t++) (x[i * l + t], y[i * l + t]) = (ids[start + t], ids[start + t + 1]);
            }
            step();
            if (s == 0) first = last;
        }
        output.WriteLine($"loss {first:F3} → {last:F3} in {steps} steps, {clock.Elapsed.TotalSeconds:F1} s (V = {vocab.Length}, ln V = {Math.Log(vocab.Length):F3})");
        Assert.InRange(first, Math.Log(vocab.Length) - 0.3, Math.Log(vocab.Length) + 0.3);   // starts at chance: nanoGPT's small init
        Assert.True(last < 0.5, $"the training loss should fall below 0.5 nats/char after {steps} steps, got {last}");

        // and the model continues the text it learned: greedy from a prompt inside it
        model.Eval();
        string prompt = "it was the season of ";
        var generated = Generation.Greedy(model, prompt.Select(c => Array.IndexOf(vocab, c)).ToArray(), 5);
        output.WriteLine($"'{prompt}' → '{new string(generated.Select(i => vocab[i]).ToArray())}'");
    }

    [Theory]
    [InlineData(GptPositions.Learned, 0, 0.0)]
    [InlineData(GptPositions.Rotary, 2, 0.0)]
    [InlineData(GptPositions.Learned, 0, 0.1)]
    public void TrainingStepAllocatesNothingAfterWarmUp(GptPositions positions, int kvHeads, double dropout)
    {
        var model = new Gpt<float>(new GptConfig(20, 16, 2, 4, 32) { Positions = positions, NKVHead = kvHeads, Dropout = dropout }, seed: 3);
        var rng = new Rng(4);
        var inputs = Tensor.Create(Enumerable.Range(0, 4 * 16).Select(_ => rng.NextInt(20)).ToArray(), [4, 16]);
        var targets = Tensor.Create(Enumerable.Range(0, 4 * 16).Select(_ => rng.NextInt(20)).ToArray(), [4, 16]);
        Assert.Equal(0, Allocations.SteadyStateBytes(Step(model, inputs, targets)));
    }

    [Fact]
    public void FloatGeluAgreesWithTheDoubleSeries()
    {
        var xs = Enumerable.Range(-4000, 8001).Select(i => i / 400.0).Concat([-30, -12, 12, 30, 1e-6, -1e-6, 0]).ToArray();
        var xf = Array.ConvertAll(xs, v => (float)v);
        foreach (var approximate in new[] { GeluApproximation.None, GeluApproximation.Tanh })
        {
            var yd = new double[xs.Length];
            var yf = new float[xs.Length];
            Activations.Gelu<double>(Array.ConvertAll(xf, v => (double)v), yd, approximate);
            Activations.Gelu<float>(xf, yf, approximate);
            TestData.AssertClose<float>(Array.ConvertAll(yd, v => (float)v), yf, 1e-6, 1e-6, $"GELU {approximate}");
            var dd = new double[xs.Length];
            var df = new float[xs.Length];
            Activations.GeluBackward<double>(Array.ConvertAll(xf, v => (double)v), Enumerable.Repeat(1.0, xs.Length).ToArray(), dd, approximate);
            Activations.GeluBackward<float>(xf, Enumerable.Repeat(1f, xs.Length).ToArray(), df, approximate);
            TestData.AssertClose<float>(Array.ConvertAll(dd, v => (float)v), df, 1e-6, 1e-6, $"GELU' {approximate}");
        }
        var nan = new float[1];
        Activations.Gelu<float>([float.NaN], nan);
        Assert.True(float.IsNaN(nan[0]));
    }
}
