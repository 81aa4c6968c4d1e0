// Every loss against PyTorch 1.13 (fixtures written by tests/reference/fixtures_losses.py, float64): the
// value PyTorch returns (the scalar, or the per-element losses for 'none') and the gradient for the stored
// upstream gradient, for every option combination. Each case runs in double (tight tolerance) and in float
// (inputs rounded to float; tolerance of a few float ulps of the magnitudes involved).
using System.Text.Json;
using static NeuralPrimitives.Tests.Losses.LossHarness;

namespace NeuralPrimitives.Tests.Losses;

public class LossFixtureTests
{
    private static (double Atol, double Rtol) Tol<T>() => typeof(T) == typeof(double) ? (1e-12, 1e-11) : (2e-5, 2e-5);

    /// <summary>Runs <paramref name="check"/> on every case of the fixture; returns how many there were.</summary>
    private static int ForEachCase(string fixture, Action<Fixture, string, JsonElement> check)
    {
        var f = Fixture.Load(fixture);
        int count = 0;
        foreach (var c in f.Meta.GetProperty("cases").EnumerateArray())
        {
            check(f, c.GetProperty("name").GetString()!, c);
            count++;
        }
        return count;
    }

    private static Reduction ReductionOf(JsonElement meta) => Parse(meta.GetProperty("reduction").GetString()!);

    /// <summary>Infer returns the loss Forward returned (to 1e-9 relative).</summary>
    private static void AssertInferredEquals<T>(T value, T inferred) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Assert.Equal(double.CreateTruncating(value), double.CreateTruncating(inferred), 1e-9 * Math.Max(1, Math.Abs(double.CreateTruncating(value))));

    private static Tensor<T>? Optional<T>(Fixture f, string key) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        f.Has(key) ? f.Tensor<T>(key) : null;

    /// <summary>Compares the returned loss, Unreduced and the gradient (Backward, Backward(g) or Backward(g_i) as the case says).</summary>
    private static void Verify<T>(Fixture f, string name, JsonElement meta, Loss<T> loss, T value, double scale = 1)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (atol, rtol) = Tol<T>();
        atol *= scale;
        var expectedLoss = f.Data($"{name}.loss");
        var unreduced = Array.ConvertAll(loss.Unreduced.ToArray(), double.CreateTruncating);
        if (loss.Reduction == Reduction.None)
        {
            TestData.AssertClose<double>(expectedLoss, unreduced, atol, rtol, $"{typeof(T).Name} {name}.loss");
            Assert.Equal(expectedLoss.Sum(), double.CreateTruncating(value), atol * expectedLoss.Length + rtol * Math.Abs(expectedLoss.Sum()));
        }
        else
            TestData.AssertClose<double>(expectedLoss, [double.CreateTruncating(value)], atol, rtol, $"{typeof(T).Name} {name}.loss");

        Tensor<T> dx;
        if (loss.Reduction == Reduction.None) dx = loss.Backward(f.Tensor<T>($"{name}.dloss"));
        else if (meta.GetProperty("scaled").GetBoolean()) dx = loss.Backward(T.CreateTruncating(f.Data($"{name}.dloss")[0]));
        else
        {
            Assert.Equal(1.0, f.Data($"{name}.dloss")[0]);
            dx = loss.Backward();
        }
        Assert.Equal(f.Shape($"{name}.x"), dx.Shape());
        TestData.AssertClose<double>(f.Data($"{name}.dx"), Array.ConvertAll(dx.ToArray(), double.CreateTruncating), atol, rtol, $"{typeof(T).Name} {name}.dx");
    }

    [Fact] public void CrossEntropyWithClassIndicesDouble() => CrossEntropyIndices<double>();
    [Fact] public void CrossEntropyWithClassIndicesFloat() => CrossEntropyIndices<float>();

    private static void CrossEntropyIndices<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Assert.Equal(24 + 4 + 2, ForEachCase("losses_cross_entropy", (f, name, meta) =>
        {
            var loss = new CrossEntropyLoss<T>(Optional<T>(f, $"{name}.weight"), meta.GetProperty("ignore_index").GetInt32(),
                ReductionOf(meta), meta.GetProperty("label_smoothing").GetDouble());
            var x = f.Tensor<T>($"{name}.x");
            var y = Tensor.Create(f.Ints($"{name}.target"), Dims(f.Shape($"{name}.target")));
            T value = loss.Forward(x, y);
            // Logits of ±1e4 give losses up to 2e4: the float tolerance scales with them.
            double magnitude = f.Data($"{name}.x").Max(Math.Abs);
            Verify(f, name, meta, loss, value, typeof(T) == typeof(float) ? Math.Max(1, magnitude / 10) : 1);
            AssertInferredEquals(value, loss.Infer(x, y));
        }));

    [Fact] public void CrossEntropyWithClassProbabilitiesDouble() => CrossEntropyProbabilities<double>();
    [Fact] public void CrossEntropyWithClassProbabilitiesFloat() => CrossEntropyProbabilities<float>();

    private static void CrossEntropyProbabilities<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Assert.Equal(13, ForEachCase("losses_cross_entropy_prob", (f, name, meta) =>
        {
            var loss = new CrossEntropyLoss<T>(Optional<T>(f, $"{name}.weight"), reduction: ReductionOf(meta),
                labelSmoothing: meta.GetProperty("label_smoothing").GetDouble());
            var x = f.Tensor<T>($"{name}.x");
            var t = f.Tensor<T>($"{name}.target");
            T value = loss.Forward(x, t);
            Verify(f, name, meta, loss, value);
            AssertInferredEquals(value, loss.Infer(x, t));
        }));

    [Fact] public void NllDouble() => Nll<double>();
    [Fact] public void NllFloat() => Nll<float>();

    private static void Nll<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Assert.Equal(13, ForEachCase("losses_nll", (f, name, meta) =>
        {
            var loss = new NllLoss<T>(Optional<T>(f, $"{name}.weight"), meta.GetProperty("ignore_index").GetInt32(), ReductionOf(meta));
            var y = Tensor.Create(f.Ints($"{name}.target"), Dims(f.Shape($"{name}.target")));
            Verify(f, name, meta, loss, loss.Forward(f.Tensor<T>($"{name}.x"), y));
        }));

    [Fact] public void RegressionLossesDouble() => Regression<double>();
    [Fact] public void RegressionLossesFloat() => Regression<float>();

    private static void Regression<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var seen = new HashSet<string>();
        ForEachCase("losses_regression", (f, name, meta) =>
        {
            var reduction = ReductionOf(meta);
            string kind = meta.GetProperty("loss").GetString()!;
            ElementwiseLoss<T> loss = kind switch
            {
                "mse" => new MseLoss<T>(reduction),
                "l1" => new L1Loss<T>(reduction),
                "huber" => new HuberLoss<T>(reduction, meta.GetProperty("delta").GetDouble()),
                "smooth_l1" => new SmoothL1Loss<T>(reduction, meta.GetProperty("beta").GetDouble()),
                _ => throw new InvalidDataException(kind),
            };
            Verify(f, name, meta, loss, loss.Forward(f.Tensor<T>($"{name}.x"), f.Tensor<T>($"{name}.target")), 10);
            seen.Add(kind + reduction);
        });
        Assert.Equal(4 * 3, seen.Count);
    }

    [Fact] public void BceWithLogitsDouble() => Bce<double>();
    [Fact] public void BceWithLogitsFloat() => Bce<float>();

    private static void Bce<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Assert.Equal(18, ForEachCase("losses_bce", (f, name, meta) =>
        {
            var loss = new BceWithLogitsLoss<T>(Optional<T>(f, $"{name}.weight"), ReductionOf(meta), Optional<T>(f, $"{name}.pos_weight"));
            // Logits of ±1e4 give losses of 1e4 (times weights of up to 3.5).
            Verify(f, name, meta, loss, loss.Forward(f.Tensor<T>($"{name}.x"), f.Tensor<T>($"{name}.target")), typeof(T) == typeof(float) ? 4e3 : 10);
        }));

    [Fact] public void KlDivDouble() => Kl<double>();
    [Fact] public void KlDivFloat() => Kl<float>();

    private static void Kl<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Assert.Equal(8, ForEachCase("losses_kl", (f, name, meta) =>
        {
            var loss = new KlDivLoss<T>(ReductionOf(meta), meta.GetProperty("log_target").GetBoolean());
            Verify(f, name, meta, loss, loss.Forward(f.Tensor<T>($"{name}.x"), f.Tensor<T>($"{name}.target")));
        }));
}
