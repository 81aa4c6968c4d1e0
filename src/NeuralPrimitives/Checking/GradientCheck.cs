// Gradient checking: does a module's hand-written backward agree with its forward?
//
// Loss:     L = Σ_k Σ_i R_k[i] · y_k[i]   with fixed random R_k ~ N(0,1) per output k, so that
//           ∂L/∂y_k = R_k and every output element is weighted differently.
// Analytic: run Forward, then Backward(R): dL/dInput comes back, dL/dθ accumulates in θ.Grad.
// Numeric:  for every element v of every input and parameter, central differences
//           dL/dv ≈ (L(v + ε) − L(v − ε)) / 2ε       (error O(ε²) for smooth functions)
// Verdict:  |analytic − numeric| ≤ atol + rtol·|numeric| element-wise (PyTorch's gradcheck test,
//           with its defaults ε = 1e-6, atol = 1e-5, rtol = 1e-3). A NaN or ±∞ on either side fails: a
//           non-finite numeric gradient means the loss itself blew up, so nothing was verified. All in double precision: in
//           float, ε would have to be ~1e-3 and rounding noise would hide real bugs.
// The forward must be deterministic (fix dropout by a seed) and smooth near the sample point
// (ReLU at exactly 0 is a kink: random inputs avoid it with probability 1).
namespace NeuralPrimitives;

/// <summary>Settings for <see cref="GradientCheck"/>; the defaults are PyTorch's gradcheck defaults.</summary>
public sealed record GradientCheckOptions
{
    /// <summary>Finite-difference step (default 1e-6).</summary>
    public double Epsilon { get; init; } = 1e-6;

    /// <summary>Absolute tolerance (default 1e-5).</summary>
    public double AbsoluteTolerance { get; init; } = 1e-5;

    /// <summary>Relative tolerance (default 1e-3).</summary>
    public double RelativeTolerance { get; init; } = 1e-3;

    /// <summary>Seed of the random projection R.</summary>
    public ulong Seed { get; init; } = 12345;

    /// <summary>Check at most this many elements per tensor (randomly chosen); 0 checks all (default).</summary>
    public int MaxElementsPerTensor { get; init; }
}

/// <summary>The worst disagreement found for one tensor (an input or a parameter).</summary>
/// <param name="Name">Input name or parameter name.</param>
/// <param name="MaxAbsoluteError">Largest |analytic − numeric|.</param>
/// <param name="MaxRelativeError">Largest |analytic − numeric| / max(|numeric|, tiny).</param>
/// <param name="WorstIndex">Flat index of the element that most exceeded its tolerance (or of the largest absolute error).</param>
/// <param name="Analytic">Analytic gradient at <paramref name="WorstIndex"/>.</param>
/// <param name="Numeric">Numeric gradient at <paramref name="WorstIndex"/>.</param>
/// <param name="Passed">Whether every checked element was within tolerance.</param>
public sealed record TensorGradientError(string Name, double MaxAbsoluteError, double MaxRelativeError, int WorstIndex, double Analytic, double Numeric, bool Passed)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{(Passed ? "ok  " : "FAIL")} {Name}: max abs {MaxAbsoluteError:E2}, max rel {MaxRelativeError:E2} (worst at [{WorstIndex}]: analytic {Analytic:G6}, numeric {Numeric:G6})";
}

/// <summary>The outcome of a gradient check: one entry per input and per parameter.</summary>
public sealed class GradientCheckResult
{
    internal GradientCheckResult(IReadOnlyList<TensorGradientError> tensors) => Tensors = tensors;

    /// <summary>Per-tensor errors, inputs first, then parameters in their module's order.</summary>
    public IReadOnlyList<TensorGradientError> Tensors { get; }

    /// <summary>True when every tensor passed.</summary>
    public bool Passed => Tensors.All(t => t.Passed);

    /// <summary>Throws <see cref="InvalidOperationException"/> with the full report unless the check passed.</summary>
    public void EnsurePassed()
    {
        if (!Passed) throw new InvalidOperationException("Gradient check failed:\n" + this);
    }

    /// <inheritdoc />
    public override string ToString() => string.Join("\n", Tensors);
}

/// <summary>
/// A differentiable computation to check, described by delegates so that any module fits:
/// the inputs are arrays that <see cref="Forward"/> reads on every call (the checker perturbs them in place).
/// </summary>
public sealed class GradientCheckProblem
{
    /// <summary>Differentiable inputs, by name; the checker perturbs these arrays in place.</summary>
    public required IReadOnlyList<(string Name, double[] Values)> Inputs { get; init; }

    /// <summary>Parameters to check (their <see cref="Parameter{T}.Data"/> is perturbed, their gradient read).</summary>
    public required IReadOnlyList<(string Name, Parameter<double> Parameter)> Parameters { get; init; }

    /// <summary>Runs the forward pass on the current inputs and parameters and returns every output (copied).</summary>
    public required Func<double[][]> Forward { get; init; }

    /// <summary>Given ∂L/∂output for each output of the last <see cref="Forward"/>, runs backward and returns ∂L/∂input for each input (copied), accumulating parameter gradients.</summary>
    public required Func<double[][], double[][]> Backward { get; init; }
}

/// <summary>Central-difference gradient checking in double precision for any module (like PyTorch's <c>gradcheck</c>).</summary>
public static class GradientCheck
{
    /// <summary>Checks a single-input layer: ∂L/∂input and every parameter that requires a gradient.</summary>
    public static GradientCheckResult Run<TLayer>(TLayer layer, Tensor<double> input, GradientCheckOptions? options = null)
        where TLayer : Module<double>, ILayer<double>
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(input);
        var shape = input.Lengths.ToArray();
        var x = input.ToArray();
        Tensor<double>? output = null; // the last Forward's output: its shape shapes dL/dOutput
        var problem = new GradientCheckProblem
        {
            Inputs = [("input", x)],
            Parameters = layer.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList(),
            Forward = () => { output = layer.Forward(Tensor.Create(x, shape)); return [output.ToArray()]; },
            Backward = dOut => [layer.Backward(Tensor.Create(dOut[0], output!.Lengths)).ToArray()],
        };
        return Run(problem, options);
    }

    /// <summary>Checks an arbitrary problem (several inputs, several outputs).</summary>
    public static GradientCheckResult Run(GradientCheckProblem problem, GradientCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        options ??= new GradientCheckOptions();
        if (!(options.Epsilon > 0) || double.IsInfinity(options.Epsilon))
            throw new ArgumentOutOfRangeException(nameof(options), options.Epsilon, $"options.Epsilon must be finite and > 0, got {options.Epsilon}.");
        if (!(options.AbsoluteTolerance >= 0) || !(options.RelativeTolerance >= 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"options.AbsoluteTolerance and RelativeTolerance must be ≥ 0 (not NaN), got {options.AbsoluteTolerance} and {options.RelativeTolerance}.");
        if (options.MaxElementsPerTensor < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxElementsPerTensor, $"options.MaxElementsPerTensor must be ≥ 0 (0 checks every element), got {options.MaxElementsPerTensor}.");
        var rng = new Rng(options.Seed);

        // Projection weights R_k, one per output.
        var outputs = problem.Forward();
        var projections = outputs.Select(o => { var r = new double[o.Length]; rng.FillNormal<double>(r); return r; }).ToArray();

        // Analytic gradients.
        foreach (var (_, p) in problem.Parameters) p.ZeroGrad();
        var dInputs = problem.Backward(projections);
        if (dInputs.Length != problem.Inputs.Count)
            throw new InvalidOperationException($"Backward returned {dInputs.Length} input gradients for {problem.Inputs.Count} inputs.");
        var results = new List<TensorGradientError>();
        for (int i = 0; i < problem.Inputs.Count; i++)
        {
            var (name, values) = problem.Inputs[i];
            results.Add(Compare(name, values, dInputs[i], problem, projections, options, rng));
        }
        foreach (var (name, p) in problem.Parameters)
        {
            var analytic = new double[p.Length];
            p.CopyGradTo(analytic);
            results.Add(Compare(name, p.Data, analytic, problem, projections, options, rng));
        }
        return new GradientCheckResult(results);
    }

    private static double Loss(GradientCheckProblem problem, double[][] projections)
    {
        var outputs = problem.Forward();
        double loss = 0;
        for (int k = 0; k < outputs.Length; k++)
            for (int i = 0; i < outputs[k].Length; i++) loss += projections[k][i] * outputs[k][i];
        return loss;
    }

    private static TensorGradientError Compare(string name, double[] values, double[] analytic, GradientCheckProblem problem,
        double[][] projections, GradientCheckOptions options, Rng rng)
    {
        if (analytic.Length != values.Length)
            throw new InvalidOperationException($"Gradient of {name} has {analytic.Length} elements, the tensor has {values.Length}.");
        IEnumerable<int> indices = Enumerable.Range(0, values.Length);
        if (options.MaxElementsPerTensor > 0 && values.Length > options.MaxElementsPerTensor)
            indices = Enumerable.Range(0, options.MaxElementsPerTensor).Select(_ => rng.NextInt(values.Length)).Distinct().ToList();

        double maxAbs = 0, maxRel = 0, worstExcess = double.NegativeInfinity;
        int worst = -1; double worstA = 0, worstN = 0;
        bool passed = true;
        foreach (int i in indices)
        {
            double saved = values[i];
            values[i] = saved + options.Epsilon;
            double plus = Loss(problem, projections);
            values[i] = saved - options.Epsilon;
            double minus = Loss(problem, projections);
            values[i] = saved;
            double numeric = (plus - minus) / (2 * options.Epsilon);
            double abs = Math.Abs(analytic[i] - numeric);
            double rel = abs / Math.Max(Math.Abs(numeric), 1e-12);
            double allowed = options.AbsoluteTolerance + options.RelativeTolerance * Math.Abs(numeric);
            bool ok = abs <= allowed && double.IsFinite(numeric) && double.IsFinite(analytic[i]); // NaN or ±∞ anywhere fails
            if (!ok) passed = false;
            maxAbs = Math.Max(maxAbs, abs);
            maxRel = Math.Max(maxRel, rel);
            double excess = ok ? abs - allowed : double.PositiveInfinity;
            if (excess > worstExcess) { worstExcess = excess; worst = i; worstA = analytic[i]; worstN = numeric; }
        }
        return new TensorGradientError(name, maxAbs, maxRel, worst, worstA, worstN, passed);
    }
}
