// The part the transformer encoder and decoder stacks share (TransformerEncoder.cs, TransformerDecoder.cs, whose
// headers hold the equations): N layers of one kind, all with one dModel and batchFirst, and an optional final norm,
// registered as PyTorch's children "layers" (a ModuleList: layers.0, layers.1, …) and "norm".
namespace NeuralPrimitives;

/// <summary>
/// Base of <see cref="TransformerEncoder{T}"/> and <see cref="TransformerDecoder{T}"/>: a stack of layers with an optional
/// final norm. Children: <c>layers</c> (<c>layers.0</c>, <c>layers.1</c>, …) and <c>norm</c> when given.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
/// <typeparam name="TLayer">The kind of layer stacked.</typeparam>
public abstract class TransformerStack<T, TLayer> : Module<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T> where TLayer : TransformerLayer<T>
{
    /// <summary>Stacks the given layers in order (at least one, each used once, all with one dModel and batchFirst).</summary>
    private protected TransformerStack(IEnumerable<TLayer> layers, NormalizationLayer<T>? norm)
    {
        Stacked = TransformerChecks.StackLayers(layers, l => (l.DModel, l.BatchFirst));
        Layers = RegisterModule("layers", new ModuleList<T>(Stacked));
        if (norm is not null) Norm = RegisterModule("norm", norm);
    }

    /// <summary>The layers in order, typed.</summary>
    private protected TLayer[] Stacked { get; }

    /// <summary>The layers, child <c>layers</c>.</summary>
    public ModuleList<T> Layers { get; }

    /// <summary>Layer <paramref name="index"/>, typed.</summary>
    /// <param name="index">0 ≤ index &lt; <see cref="NumLayers"/>.</param>
    public TLayer Layer(int index) => Stacked[index];

    /// <summary>N.</summary>
    public int NumLayers => Stacked.Length;

    /// <summary>The final norm, child <c>norm</c>, or null.</summary>
    public NormalizationLayer<T>? Norm { get; }
}
