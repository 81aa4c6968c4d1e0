// ModuleDict: modules by name, in insertion order (PyTorch's nn.ModuleDict). Its keys are the name
// prefixes of the children's parameters: { ["embed"] = Embedding, ["lstm"] = Lstm } gives
// "embed.weight", "lstm.weight_ih_l0", … It has no Forward: the caller composes the modules.
using System.Collections;

namespace NeuralPrimitives;

/// <summary>
/// Holds named modules in insertion order so that their parameters are registered under <c>name.…</c>
/// (PyTorch's <c>nn.ModuleDict</c>). Supports collection initialisers: <c>new ModuleDict&lt;float&gt; { ["embed"] = embed }</c>.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class ModuleDict<T> : Module<T>, IEnumerable<KeyValuePair<string, Module<T>>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly OrderedDictionary<string, Module<T>> _modules = new(StringComparer.Ordinal);

    /// <summary>The number of modules.</summary>
    public int Count => _modules.Count;

    /// <summary>The names, in insertion order.</summary>
    public IEnumerable<string> Keys => _modules.Keys;

    /// <summary>Gets the module named <paramref name="key"/>, or adds/replaces it (replacing keeps its position, as in PyTorch).</summary>
    /// <exception cref="KeyNotFoundException">No module has that name (the message lists the names).</exception>
    public Module<T> this[string key]
    {
        get => _modules.TryGetValue(key, out var m) ? m
            : throw new KeyNotFoundException($"No module named '{key}'. Modules: {string.Join(", ", _modules.Keys)}.");
        set
        {
            CheckKey(key);
            ArgumentNullException.ThrowIfNull(value);
            _modules[key] = value;
            StructureChanged();
        }
    }

    /// <summary>Adds a module under a new name.</summary>
    public void Add(string key, Module<T> module)
    {
        CheckKey(key);
        ArgumentNullException.ThrowIfNull(module);
        if (!_modules.TryAdd(key, module)) throw new ArgumentException($"key '{key}' is already in the ModuleDict.", nameof(key));
        StructureChanged();
    }

    /// <summary>Whether a module has that name.</summary>
    public bool ContainsKey(string key) => _modules.ContainsKey(key);

    private static void CheckKey(string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        if (key.Contains('.')) throw new ArgumentException($"key must not contain '.', got '{key}'.", nameof(key));
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Name, Module<T> Module)> Children()
    {
        foreach (var (k, m) in _modules) yield return (k, m);
    }

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, Module<T>>> GetEnumerator() => _modules.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
