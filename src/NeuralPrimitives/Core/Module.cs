// The module contract, written down once (Layers/Linear.cs is the worked example):
//
//   Forward(x)      training path. Computes y and caches what Backward needs. Returns a tensor
//                   owned by the module, valid until the next Forward (copy it to keep it).
//   Backward(dy)    takes dL/dy for the last Forward, returns dL/dx (module-owned buffer) and
//                   ACCUMULATES dL/dθ into every parameter's Grad (call ZeroGrad between steps).
//   Infer(x)        inference path. Caches nothing, allocates its result, and may be called
//                   from several threads at once on shared weights.
//
// Thread safety: a module's Forward/Backward pair belongs to one thread at a time (it mutates
// caches and gradients); Infer is safe to call concurrently as long as nobody writes the
// weights meanwhile. Parameters are named exactly as in PyTorch so a state_dict maps 1:1.
namespace NeuralPrimitives;

/// <summary>
/// Base class of every layer: named parameters (PyTorch names), child modules, training/evaluation
/// mode and <see cref="ZeroGrad"/>. See <see cref="Linear{T}"/> for the forward/backward contract.
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public abstract class Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>True in training mode (the default), false in evaluation mode (e.g. dropout off).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Sets training mode on this module and its children (PyTorch's <c>module.train(mode)</c>).</summary>
    public void Train(bool mode = true)
    {
        Training = mode;
        foreach (var (_, child) in Children()) child.Train(mode);
    }

    /// <summary>Sets evaluation mode (PyTorch's <c>module.eval()</c>).</summary>
    public void Eval() => Train(false);

    /// <summary>The parameters this module owns directly (not those of its children).</summary>
    protected virtual IEnumerable<Parameter<T>> OwnParameters() => [];

    /// <summary>The direct child modules with their attribute names (used as name prefixes).</summary>
    protected virtual IEnumerable<(string Name, Module<T> Module)> Children() => [];

    /// <summary>All parameters with their full dotted names, e.g. <c>0.weight</c>, in PyTorch's state_dict order.</summary>
    public IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        foreach (var p in OwnParameters()) yield return (p.Name, p);
        foreach (var (prefix, child) in Children())
            foreach (var (name, p) in child.NamedParameters())
                yield return (prefix + "." + name, p);
    }

    /// <summary>All parameters (own and children's).</summary>
    public IEnumerable<Parameter<T>> Parameters() => NamedParameters().Select(np => np.Parameter);

    /// <summary>Looks up a parameter by its full dotted name; throws <see cref="KeyNotFoundException"/> listing the valid names.</summary>
    public Parameter<T> GetParameter(string name)
    {
        foreach (var (n, p) in NamedParameters()) if (n == name) return p;
        throw new KeyNotFoundException($"No parameter named '{name}'. Parameters: {string.Join(", ", NamedParameters().Select(np => np.Name))}.");
    }

    private Parameter<T>[]? _allParameters;

    /// <summary>Resets every parameter's accumulated gradient to zero. Allocates nothing after the first call.</summary>
    /// <remarks>A module's set of parameters is fixed once it is constructed; the flattened list is cached here.</remarks>
    public void ZeroGrad()
    {
        foreach (var p in _allParameters ??= Parameters().ToArray()) p.ZeroGrad();
    }
}

/// <summary>
/// A module mapping one tensor to one tensor, with the training pair <see cref="Forward"/> /
/// <see cref="Backward"/> and the cache-free, thread-safe <see cref="Infer"/>.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
public interface ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Training forward: computes the output and caches what <see cref="Backward"/> needs. The result is module-owned and valid until the next call.</summary>
    Tensor<T> Forward(Tensor<T> input);

    /// <summary>Given dL/dOutput of the last <see cref="Forward"/>, returns dL/dInput (module-owned) and accumulates parameter gradients.</summary>
    Tensor<T> Backward(Tensor<T> dOutput);

    /// <summary>Inference forward: caches nothing, returns a new tensor, safe to call from several threads at once.</summary>
    Tensor<T> Infer(Tensor<T> input);
}
