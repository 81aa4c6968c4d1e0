// Sequential: a chain of one-tensor-in, one-tensor-out layers (PyTorch's nn.Sequential).
//
// Forward:  y = f_{n−1}( … f_1(f_0(x)) )          each layer's Forward, in order
// Backward: dx = f_0ᵀ( … f_{n−1}ᵀ(dy) )            each layer's Backward, in reverse order
//           (the chain rule: dL/dx = J_0ᵀ·J_1ᵀ·…·J_{n−1}ᵀ·dL/dy, one Jacobian-transpose product per layer)
// Names:    the layers are children "0", "1", …, so parameters are "0.weight", "2.bias", … as in PyTorch.
namespace NeuralPrimitives;

/// <summary>
/// Chains layers that each map one tensor to one tensor (PyTorch's <c>nn.Sequential</c>): <see cref="Forward"/>
/// runs them in order, <see cref="Backward"/> in reverse, and the children are named <c>0</c>, <c>1</c>, ….
/// Modules with other signatures (an <see cref="Embedding{T}"/> taking indices, an <see cref="Lstm{T}"/> returning
/// states) are composed by hand in a <see cref="Module{T}"/> subclass or held by a <see cref="ModuleDict{T}"/>.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Sequential<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly List<ILayer<T>> _layers = [];
    private readonly List<(string Name, Module<T> Module)> _children = [];

    /// <summary>Creates the chain. Every element must be a <see cref="Module{T}"/> that implements <see cref="ILayer{T}"/>.</summary>
    /// <param name="layers">The layers, first to last (may be empty: then Sequential is the identity).</param>
    public Sequential(params Module<T>[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        for (int i = 0; i < layers.Length; i++) Append(layers[i], $"layers[{i}]");
    }

    /// <summary>The number of layers.</summary>
    public int Count => _layers.Count;

    /// <summary>The layer at <paramref name="index"/> (negative counts from the end, as in PyTorch).</summary>
    public Module<T> this[int index] => _children[NormaliseIndex(index, _children.Count)].Module;

    /// <summary>Appends a layer at the end (PyTorch's <c>append</c>); it is named by its position.</summary>
    /// <returns>This container, for chaining.</returns>
    public Sequential<T> Append(Module<T> layer) => Append(layer, nameof(layer));

    private Sequential<T> Append(Module<T> layer, string argument)
    {
        ArgumentNullException.ThrowIfNull(layer, argument);
        if (layer is not ILayer<T> l)
            throw new ArgumentException($"{argument} must implement ILayer<{typeof(T).Name}> (one tensor in, one tensor out) to be chained; {layer.GetType().Name} does not.", argument);
        _layers.Add(l);
        _children.Add((_children.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));
        StructureChanged();
        return this;
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Name, Module<T> Module)> Children() => _children;

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        ArgumentNullException.ThrowIfNull(input);
        var x = input;
        foreach (var layer in _layers) x = layer.Forward(x);
        pass.Complete();
        return x;
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        ArgumentNullException.ThrowIfNull(dOutput);
        var d = dOutput;
        for (int i = _layers.Count - 1; i >= 0; i--) d = _layers[i].Backward(d);
        pass.Complete();
        return d;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var x = input;
        foreach (var layer in _layers) x = layer.Infer(x);
        return x;
    }

    internal static int NormaliseIndex(int index, int count)
    {
        int i = index < 0 ? index + count : index;
        if ((uint)i >= (uint)count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"index must be in [{-count}, {count}), got {index}.");
        return i;
    }
}
