// The row-normalisation engine shared by LayerNorm and RMSNorm (their files hold the derivations).
//
// Shapes:   input [..., *normalizedShape]: the trailing dimensions must equal normalizedShape.
//           They are flattened into N rows of n = ∏ normalizedShape elements; γ, β have normalizedShape.
// Forward, per row x ∈ ℝⁿ (μ = mean(x) when centred — LayerNorm —, μ = 0 when not — RMSNorm):
//   rstd = 1/√(mean((x − μ)²) + ε)
//   x̂    = (x − μ)·rstd
//   y    = x̂ ⊙ γ + β          (γ, β only with elementwiseAffine; β only for LayerNorm with bias)
// Backward, per row, with g = dy ⊙ γ (g = dy without affine):
//   dx   = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))      (the mean(g) term only when centred)
//   dγ  += Σ_rows dy ⊙ x̂        dβ += Σ_rows dy
// Cached by Forward: a reference to x, and μ and rstd per row; Backward recomputes x̂ from them.
// Kernels: one Vector<T> loop per pass over a row (three forward, two backward), each row read from
// memory once and then from L1; without affine γ = 1 and β = 0 are arrays, so one kernel serves all
// cases. The sum of squares uses four accumulators (one chain of adds would wait on each add's latency).
// Measured on [4096, 1024] float: Vector512 was no faster (the passes are bound by memory traffic).
//
// Threads: rows are independent, so they are split into chunks that the caller and the kernel
// workers take in turn (Kernels/Parallelism.cs). The chunks depend only on the shape, never on the
// thread count, and each chunk sums its rows' dγ, dβ into its own partial; the partials are then
// added in chunk order. Every output and gradient is therefore the same bit for bit on 1 or k threads.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>
/// Base of <see cref="LayerNorm{T}"/> and <see cref="RmsNorm{T}"/>: normalises every row of the trailing
/// <see cref="NormalizedShape"/> dimensions of its input, then applies the optional element-wise affine
/// transform. Forward and backward follow the equations in <c>Layers/NormalizationLayer.cs</c>.
/// </summary>
/// <remarks>
/// Thread safety: <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time;
/// <see cref="Infer"/> caches nothing and may run on several threads at once while the weights are not written.
/// The input passed to <see cref="Forward"/> is kept by reference for <see cref="Backward"/>: do not modify it in between.
/// Results do not depend on <see cref="Parallelism.NumThreads"/>.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class NormalizationLayer<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private const int ChunkElements = 16_384;        // about this many input elements per chunk
    private const int MaxChunks = 32;                // so that the dγ/dβ partials stay small
    private const long ParallelMinElements = 65_536; // smaller inputs stay on the calling thread

    private readonly int[] _normalizedShape;
    private readonly int _n;
    private readonly T _eps;
    private readonly bool _centered;
    private readonly Parameter<T>? _bias;
    private readonly T[] _gamma, _beta;   // γ and β, or ones and zeros without them
    private readonly TensorBuffer<T> _output = new(), _dInput = new();
    private readonly TensorBuffer<T> _mean = new(), _rstd = new(), _partials = new();
    private Tensor<T>? _input;

    private protected NormalizationLayer(int[] normalizedShape, double eps, bool elementwiseAffine, bool bias, bool centered)
    {
        ArgumentNullException.ThrowIfNull(normalizedShape);
        _n = Shapes.CheckedProduct(normalizedShape, nameof(normalizedShape));
        if (!(eps >= 0) || double.IsInfinity(eps))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, $"eps must be finite and ≥ 0, got {eps}.");
        _normalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        _eps = T.CreateTruncating(eps);
        _centered = centered;
        if (elementwiseAffine)
        {
            Weight = RegisterParameter("weight", new Parameter<T>("weight", _normalizedShape));
            Array.Fill(Weight.Data, T.One);                                  // PyTorch: γ = 1
            if (bias) _bias = RegisterParameter("bias", new Parameter<T>("bias", _normalizedShape)); // β = 0
        }
        _gamma = Weight?.Data ?? Enumerable.Repeat(T.One, _n).ToArray();
        _beta = _bias?.Data ?? new T[_n];
    }

    /// <summary>The trailing dimensions that are normalised together (PyTorch's <c>normalized_shape</c>).</summary>
    public ReadOnlySpan<int> NormalizedShape => _normalizedShape;

    /// <summary>The ε added to the variance (or mean square) before the square root.</summary>
    public double Eps { get; }

    /// <summary>Whether the layer has the learnable <c>weight</c> γ (and, for LayerNorm, <c>bias</c> β).</summary>
    public bool ElementwiseAffine => Weight is not null;

    /// <summary>The scale γ with shape <see cref="NormalizedShape"/> (initialised to 1), or null without elementwise affine.</summary>
    public Parameter<T>? Weight { get; }

    /// <summary>The shift β (LayerNorm only), or null.</summary>
    private protected Parameter<T>? BiasParameter => _bias;

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        int rows = CheckInput(input);
        var output = _output.Get(input.Lengths);
        Run(new Work(this, input, output, rows) { Mean = Reserve(_mean, rows), Rstd = Reserve(_rstd, rows) });
        _input = input;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input)
    {
        int rows = CheckInput(input);
        var output = Tensor.Create(new T[input.FlattenedLength], input.Lengths);
        Run(new Work(this, input, output, rows));
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var input = _input!;
        Guard.SameShape(input, dOutput, nameof(dOutput));
        int rows = (int)(input.FlattenedLength / _n);
        int chunks = ChunkCount(rows);
        var dInput = _dInput.Get(input.Lengths);
        bool dWeight = Weight is { RequiresGrad: true }, dBias = _bias is { RequiresGrad: true };
        var work = new Work(this, input, dInput, rows)
        {
            DOutput = dOutput,
            Mean = _mean.Array,
            Rstd = _rstd.Array,
            Partials = Reserve(_partials, chunks * 2 * _n),
        };
        Run(work);
        // Σ over rows = Σ over chunks (in chunk order) of each chunk's partial sum.
        for (int c = 0; c < chunks; c++)
        {
            if (dWeight) TensorPrimitives.Add(Weight!.Grad, work.Partials.AsSpan(2 * c * _n, _n), Weight.Grad);
            if (dBias) TensorPrimitives.Add(_bias!.Grad, work.Partials.AsSpan((2 * c + 1) * _n, _n), _bias.Grad);
        }
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>The backing array of <paramref name="buffer"/>, at least <paramref name="length"/> long (reused).</summary>
    private static T[] Reserve(TensorBuffer<T> buffer, int length)
    {
        buffer.GetSpan(length);
        return buffer.Array;
    }

    /// <summary>Checks that the input ends with <see cref="NormalizedShape"/>; returns the number of rows.</summary>
    private int CheckInput(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        int k = _normalizedShape.Length;
        bool ok = input.Rank >= k;
        for (int i = 0; ok && i < k; i++) ok = input.Lengths[input.Rank - k + i] == _normalizedShape[i];
        if (!ok)
            throw new ArgumentException(
                $"input must end with the normalized shape {Shapes.Format(_normalizedShape)}: expected [..., {string.Join(", ", _normalizedShape)}], got shape {Shapes.Format(input.Lengths)}.",
                nameof(input));
        return (int)(input.FlattenedLength / _n);
    }

    // ---- the row kernels (the equations of the header) ---------------------------------------------
    // Vector<T> loops over the row with a scalar loop for the last n mod Vector<T>.Count elements.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> Load(ReadOnlySpan<T> s, int i) => Vector.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector<T> v, Span<T> s, int i) => v.StoreUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);

    /// <summary>y = x̂ ⊙ γ + β for one row, x̂ = (x − μ)·rstd; returns (μ, rstd).</summary>
    private (T Mean, T Rstd) ForwardRow(ReadOnlySpan<T> x, Span<T> y)
    {
        int n = x.Length, body = n - n % Vector<T>.Count;
        ReadOnlySpan<T> gamma = _gamma, beta = _beta;
        T count = T.CreateTruncating(n);

        T mean = _centered ? TensorPrimitives.Sum(x) / count : T.Zero;      // μ = mean(x), or 0 for RMSNorm
        T rstd = T.One / T.Sqrt(SumOfSquaredDeviations(x, mean) / count + _eps); // rstd = 1/√(mean((x − μ)²) + ε)

        Vector<T> mu = new(mean), r = new(rstd);                            // y = (x − μ)·rstd ⊙ γ + β
        for (int i = 0; i < body; i += Vector<T>.Count) Store((Load(x, i) - mu) * r * Load(gamma, i) + Load(beta, i), y, i);
        for (int i = body; i < n; i++) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
        return (mean, rstd);
    }

    /// <summary>Σ (xᵢ − μ)², with four accumulators: a single chain of adds would wait on each add's latency.</summary>
    private static T SumOfSquaredDeviations(ReadOnlySpan<T> x, T mean)
    {
        int n = x.Length, v = Vector<T>.Count, i = 0;
        var mu = new Vector<T>(mean);
        Vector<T> s0 = Vector<T>.Zero, s1 = s0, s2 = s0, s3 = s0;
        for (; i <= n - 4 * v; i += 4 * v)
        {
            Vector<T> d0 = Load(x, i) - mu, d1 = Load(x, i + v) - mu, d2 = Load(x, i + 2 * v) - mu, d3 = Load(x, i + 3 * v) - mu;
            s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
        }
        for (; i <= n - v; i += v) { var d = Load(x, i) - mu; s0 += d * d; }
        T sum = Vector.Sum(s0 + s1 + (s2 + s3));
        for (; i < n; i++) sum += (x[i] - mean) * (x[i] - mean);
        return sum;
    }

    /// <summary>dx for one row; its dγ = dy ⊙ x̂ and dβ = dy are added into the chunk's partial sums.</summary>
    private void BackwardRow(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, T mean, T rstd, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
    {
        int n = x.Length, body = n - n % Vector<T>.Count;
        ReadOnlySpan<T> gamma = _gamma;
        T count = T.CreateTruncating(n);
        var mu = new Vector<T>(mean);
        var r = new Vector<T>(rstd);

        // Pass 1, with x̂ = (x − μ)·rstd and g = dy ⊙ γ: Σ g, Σ g ⊙ x̂, and the parameter gradients.
        Vector<T> sumG = Vector<T>.Zero, sumGxHat = Vector<T>.Zero;
        for (int i = 0; i < body; i += Vector<T>.Count)
        {
            var d = Load(dy, i);
            var xHat = (Load(x, i) - mu) * r;
            var g = d * Load(gamma, i);
            sumG += g;
            sumGxHat += g * xHat;
            Store(Load(dGamma, i) + d * xHat, dGamma, i);
            Store(Load(dBeta, i) + d, dBeta, i);
        }
        T totalG = Vector.Sum(sumG), totalGxHat = Vector.Sum(sumGxHat);
        for (int i = body; i < n; i++)
        {
            T xHat = (x[i] - mean) * rstd, g = dy[i] * gamma[i];
            totalG += g;
            totalGxHat += g * xHat;
            dGamma[i] += dy[i] * xHat;
            dBeta[i] += dy[i];
        }
        T meanG = _centered ? totalG / count : T.Zero, meanGxHat = totalGxHat / count;

        // Pass 2: dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)).
        var mg = new Vector<T>(meanG);
        var mgx = new Vector<T>(meanGxHat);
        for (int i = 0; i < body; i += Vector<T>.Count)
        {
            var xHat = (Load(x, i) - mu) * r;
            Store((Load(dy, i) * Load(gamma, i) - mg - xHat * mgx) * r, dx, i);
        }
        for (int i = body; i < n; i++)
            dx[i] = (dy[i] * gamma[i] - meanG - (x[i] - mean) * rstd * meanGxHat) * rstd;
    }

    // ---- chunks and threads ------------------------------------------------------------------------

    /// <summary>How many chunks the rows are split into: a function of the shape only (never of the thread count).</summary>
    private int ChunkCount(int rows) =>
        (int)Math.Clamp((long)rows * _n / ChunkElements, 1, Math.Clamp(rows, 1, MaxChunks));

    /// <summary>One Forward, Infer or Backward over all rows: what each chunk reads and writes.</summary>
    private readonly record struct Work(NormalizationLayer<T> Layer, Tensor<T> Input, Tensor<T> Output, int Rows)
    {
        public Tensor<T>? DOutput { get; init; }       // null in Forward/Infer
        public T[]? Mean { get; init; }                // per row; written by Forward, read by Backward
        public T[]? Rstd { get; init; }
        public T[]? Partials { get; init; }            // Backward: [chunks, 2 (dγ, dβ), n]
    }

    private void Run(in Work work)
    {
        int chunks = ChunkCount(work.Rows);
        int threads = Math.Min(Parallelism.NumThreads, chunks);
        if (threads > 1 && (long)work.Rows * _n >= ParallelMinElements && Parallelism.TryEnterParallel())
        {
            var job = ChunkJob.Instance;
            try
            {
                job.Set(work);
                Parallelism.RunParallel(job, threads, chunks);
            }
            finally
            {
                job.Set(default); // drop the references to this call's tensors
                Parallelism.ExitParallel();
            }
            return;
        }
        for (int c = 0; c < chunks; c++) RunChunk(work, c, chunks);
    }

    private void RunChunk(in Work w, int chunk, int chunks)
    {
        int lo = (int)((long)w.Rows * chunk / chunks), hi = (int)((long)w.Rows * (chunk + 1) / chunks);
        var x = w.Input.AsReadOnlySpan();
        var output = w.Output.AsSpan();
        if (w.DOutput is null)
        {
            for (int r = lo; r < hi; r++)
            {
                var (mean, rstd) = ForwardRow(x.Slice(r * _n, _n), output.Slice(r * _n, _n));
                if (w.Mean is not null) { w.Mean[r] = mean; w.Rstd![r] = rstd; }
            }
            return;
        }
        var dy = w.DOutput.AsReadOnlySpan();
        var partial = w.Partials.AsSpan(chunk * 2 * _n, 2 * _n);
        partial.Clear();
        for (int r = lo; r < hi; r++)
            BackwardRow(x.Slice(r * _n, _n), dy.Slice(r * _n, _n), w.Mean![r], w.Rstd![r], output.Slice(r * _n, _n), partial[.._n], partial[_n..]);
    }

    /// <summary>One part = one chunk of rows; only used between TryEnterParallel and ExitParallel.</summary>
    private sealed class ChunkJob : ParallelJob
    {
        public static readonly ChunkJob Instance = new();
        private int _parts;
        private Work _work;

        public void Set(in Work work)
        {
            _work = work;
            _parts = work.Layer?.ChunkCount(work.Rows) ?? 0;
        }

        public override void Execute(int part) => _work.Layer.RunChunk(_work, part, _parts);
    }
}
