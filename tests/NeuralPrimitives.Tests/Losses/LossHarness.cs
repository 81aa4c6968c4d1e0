// Shared helpers of the loss tests: a gradient-check problem for any loss, and an independent slow
// reference of cross-entropy (double precision, written from the textbook definition).

namespace NeuralPrimitives.Tests.Losses;

internal static class LossHarness
{
    public static Reduction Parse(string reduction) => reduction switch
    {
        "mean" => Reduction.Mean,
        "sum" => Reduction.Sum,
        "none" => Reduction.None,
        "batchmean" => Reduction.BatchMean,
        _ => throw new ArgumentException(reduction),
    };

    public static nint[] Dims(params int[] shape) => Array.ConvertAll(shape, d => (nint)d);

    /// <summary>
    /// Checks dLoss/dInput by central differences: the problem's output is the reduced loss (a scalar; the checker's random
    /// projection then exercises Backward(g)), or the per-element losses for Reduction.None (exercising Backward(g_i)).
    /// </summary>
    public static void AssertGradientCheck(Loss<double> loss, double[] x, int[] shape, Func<Tensor<double>, double> forward, string what = "")
    {
        var problem = new GradientCheckProblem
        {
            Inputs = [("input", x)],
            Parameters = [],
            Forward = () =>
            {
                double l = forward(Tensor.Create(x, Dims(shape)));
                return loss.Reduction == Reduction.None ? [loss.Unreduced.ToArray()] : [[l]];
            },
            Backward = dOut => loss.Reduction == Reduction.None
                ? [loss.Backward(Tensor.Create(dOut[0], loss.Unreduced.Lengths)).ToArray()]
                : [loss.Backward(dOut[0][0]).ToArray()],
        };
        var result = GradientCheck.Run(problem);
        Assert.True(result.Passed, $"{what}\n{result}");
    }

    /// <summary>
    /// Cross-entropy from its definition, in double: log p = x − logsumexp(x) per row, q the (smoothed, weighted) target
    /// distribution, l_n = −Σ_c q_c log p_c, dl_n/dx = (Σq)·softmax − q. Returns the per-row losses, dl/dx for u = 1 per row,
    /// and the weighted-mean denominator.
    /// </summary>
    public static (double[] Losses, double[] DLogits, double Denominator) ReferenceCrossEntropy(
        double[] x, int classes, int[]? indices, double[]? probabilities, double[]? weight, int ignoreIndex, double smoothing)
    {
        int rows = x.Length / classes;
        var losses = new double[rows];
        var dx = new double[x.Length];
        double denominator = 0;
        for (int n = 0; n < rows; n++)
        {
            var q = new double[classes];
            if (indices is not null)
            {
                int y = indices[n];
                if (y == ignoreIndex) continue;
                denominator += weight?[y] ?? 1;
                for (int c = 0; c < classes; c++)
                    q[c] = ((c == y ? 1 - smoothing : 0) * (weight?[y] ?? 1)) + smoothing / classes * (weight?[c] ?? 1);
            }
            else
            {
                denominator += 1;
                for (int c = 0; c < classes; c++)
                    q[c] = (weight?[c] ?? 1) * ((1 - smoothing) * probabilities![n * classes + c] + smoothing / classes);
            }
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++) max = Math.Max(max, x[n * classes + c]);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.Exp(x[n * classes + c] - max);
            double lse = max + Math.Log(sum), qSum = q.Sum();
            for (int c = 0; c < classes; c++)
            {
                double logP = x[n * classes + c] - lse;
                losses[n] -= q[c] * logP;
                dx[n * classes + c] = qSum * Math.Exp(logP) - q[c];
            }
        }
        return (losses, dx, denominator);
    }
}
