// ModuleList: an indexed list of modules whose parameters are named "0.…", "1.…" (PyTorch's
// nn.ModuleList). It has no Forward: the owner decides how its elements are called (a stack of
// transformer blocks is a ModuleList named "layers", giving "layers.0.self_attn.in_proj_weight").
using System.Collections;
using System.Globalization;

namespace NeuralPrimitives;

/// <summary>
/// Holds modules in a list so that their parameters are registered and named <c>0.…</c>, <c>1.…</c>
/// (PyTorch's <c>nn.ModuleList</c>). Supports collection initialisers.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class ModuleList<T> : Module<T>, IReadOnlyList<Module<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly List<Module<T>> _modules = [];

    /// <summary>Creates the list.</summary>
    /// <param name="modules">The initial elements.</param>
    public ModuleList(params IEnumerable<Module<T>> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var m in modules) Add(m);
    }

    /// <summary>The number of modules.</summary>
    public int Count => _modules.Count;

    /// <summary>The module at <paramref name="index"/> (negative counts from the end, as in PyTorch).</summary>
    public Module<T> this[int index] => _modules[Sequential<T>.NormaliseIndex(index, _modules.Count)];

    /// <summary>Appends a module (PyTorch's <c>append</c>); it is named by its position.</summary>
    public void Add(Module<T> module)
    {
        ArgumentNullException.ThrowIfNull(module);
        _modules.Add(module);
        StructureChanged();
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Name, Module<T> Module)> Children()
    {
        for (int i = 0; i < _modules.Count; i++) yield return (i.ToString(CultureInfo.InvariantCulture), _modules[i]);
    }

    /// <inheritdoc />
    public IEnumerator<Module<T>> GetEnumerator() => _modules.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
