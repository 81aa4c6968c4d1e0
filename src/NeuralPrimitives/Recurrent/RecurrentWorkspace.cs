// The buffers of the recurrent engine (RecurrentEngine.cs): what a forward writes and its backward
// reads, and the backward's own scratch. Every buffer is sized on first use and then reused, so a
// training step after warm-up allocates nothing; Infer takes a forward workspace from a pool and,
// without KeepCaches, keeps only one step of the per-step caches.
//
// Per layer·direction s = l·D + d, with rows = T·B (row t·B + b is sequence b at step t):
//   Gates[s]   [rows, G]   the activated gates (the pre-activations before the step runs)
//   HPrev[s]   [rows, P]   h_{t−1} of every step                     (training only)
//   CPrev[s]   [rows, H]   LSTM: c_{t−1} of every step               (training only)
//   TanhC[s]   [rows, H]   LSTM: tanh(c_t)                           (one step's rows without KeepCaches)
//   M[s]       [rows, H]   LSTM with projection: m_t = o ⊙ tanh(c_t) (one step's rows without KeepCaches)
//   Gh[s]      [rows, G]   GRU: gh_t = h_{t−1}·W_hhᵀ + b_hh          (one step's rows without KeepCaches)
//   WHhT[s]    [P, G], WHrT[s] [H, P]: W_hhᵀ and W_hrᵀ, transposed once per forward so that the
//              per-step products read a row-major B directly (no packing of the weights at every step)
// Per layer: LayerInput[l] X_l [rows, In_l], LayerOutput[l] Y_l [rows, D·P], Mask[l] [rows, D·P].
namespace NeuralPrimitives;

/// <summary>Everything one forward writes and its backward reads (see RecurrentWorkspace.cs).</summary>
internal sealed class RecurrentWorkspace<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public int Steps, Batch;
    public int[] Lengths = [];
    public T[][] LayerInput = [], LayerOutput = [], Mask = [];
    public bool[] MaskDrawn = [];
    public bool DropoutActive, KeepCaches, Unbatched;
    public T[][] Gates = [], HPrev = [], CPrev = [], TanhC = [], M = [], Gh = [];
    public T[][] WHhT = [], WHrT = [];
    /// <summary>The running state of the time loop: h [B, P], c [B, H]; Tmp [B, P]: the projection's output; Bias [G].</summary>
    public T[] H = [], C = [], Tmp = [], Bias = [];
    public readonly TensorBuffer<T> Output = new(), HN = new(), CN = new();

    /// <summary>Sets up a forward of T = <paramref name="steps"/>, B = <paramref name="batch"/> over <paramref name="layers"/>·<paramref name="directions"/> cells.</summary>
    public void Prepare(int steps, int batch, int[]? lengths, int layers, int directions, bool unbatched, bool dropout, bool keepCaches)
    {
        if (Steps * Batch != steps * batch) Array.Fill(MaskDrawn, false);   // masks of another shape must be redrawn
        Steps = steps;
        Batch = batch;
        if (Lengths.Length != batch) Lengths = new int[batch];
        for (int b = 0; b < batch; b++) Lengths[b] = lengths?[b] ?? steps;
        int cells = layers * directions;
        EnsureLayers(ref LayerInput, layers); EnsureLayers(ref LayerOutput, layers); EnsureLayers(ref Mask, layers);
        if (MaskDrawn.Length != layers) MaskDrawn = new bool[layers];
        EnsureLayers(ref Gates, cells); EnsureLayers(ref HPrev, cells);
        EnsureLayers(ref CPrev, cells); EnsureLayers(ref TanhC, cells); EnsureLayers(ref M, cells); EnsureLayers(ref Gh, cells);
        EnsureLayers(ref WHhT, cells); EnsureLayers(ref WHrT, cells);
        DropoutActive = dropout;
        KeepCaches = keepCaches;
        Unbatched = unbatched;
    }

    /// <summary>The first <paramref name="n"/> elements of <paramref name="a"/>, growing it first if it is shorter.</summary>
    public static Span<TE> Buf<TE>(ref TE[] a, int n)
    {
        if (a.Length < n) a = new TE[n];
        return a.AsSpan(0, n);
    }

    /// <summary>Makes <paramref name="a"/> an array of <paramref name="n"/> buffers (empty until first sized).</summary>
    public static void EnsureLayers(ref T[][] a, int n)
    {
        if (a.Length != n) { a = new T[n][]; for (int i = 0; i < n; i++) a[i] = []; }
    }
}

/// <summary>The backward's scratch and results (see RecurrentEngine.Backward).</summary>
internal sealed class RecurrentGradientWorkspace<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Of the layer·direction in progress, every step's row: dA [rows, G] = ∂L/∂a, DAh [rows, G] its hidden side (GRU), DHs [rows, P] the total ∂L/∂h_t.</summary>
    public T[] DA = [], DAh = [], DHs = [];
    /// <summary>The carries ∂L/∂h [B, P] and ∂L/∂c [B, H] from step t+1; Dm [B, H]: LSTM with projection, ∂L/∂m_t.</summary>
    public T[] DH = [], DC = [], Dm = [];
    /// <summary>∂L/∂Y of the top layer [rows, D·P] and ∂L/∂X_l per layer.</summary>
    public T[] DTop = [];
    public T[][] DX = [];
    /// <summary>Per sequence b: Σ_t dA_t[b] then Σ_t dA_h,t[b] [B, 2G] (bias gradients); ‖dh_t[b]‖² at [t·B + b].</summary>
    public T[] SeqBias = [];
    public double[] SeqNorms = [];
    /// <summary>HiddenGradientNorms: ‖dh_t‖ for t &lt; NormCount.</summary>
    public double[] Norms = [];
    public int NormCount;
    /// <summary>The weight-gradient products: [X_l | H_prev] [rows, In_l + P], dWᵀ [n, G] and dW [G, n].</summary>
    public T[] XH = [], DWt = [], DW = [];
    public readonly TensorBuffer<T> DInput = new(), DH0 = new(), DC0 = new();

    /// <summary>Sets up a backward of <paramref name="steps"/> steps through <paramref name="layers"/> layers.</summary>
    public void Prepare(int steps, int layers)
    {
        if (Norms.Length < steps) Norms = new double[steps];
        NormCount = steps;
        RecurrentWorkspace<T>.EnsureLayers(ref DX, layers);
    }
}
