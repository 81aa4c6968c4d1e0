// The module contract, written down once (Layers/Linear.cs is the worked example; the rules for
// composing modules are in docs/module-contract.md):
//
//   Forward(x)      training path. Computes y and caches what Backward needs. Returns a tensor
//                   owned by the module, valid until the next Forward (copy it to keep it).
//   Backward(dy)    takes dL/dy for the last Forward, returns dL/dx (module-owned buffer) and
//                   ACCUMULATES dL/dθ into every parameter's Grad (call ZeroGrad between steps).
//                   Exactly one Backward per Forward: a second one, one before any Forward, or one
//                   after a Forward that threw raises InvalidOperationException (BeginBackward).
//   Infer(x)        inference path. Caches nothing, allocates its result, and may be called
//                   from several threads at once on shared weights.
//
// Thread safety: a module's Forward/Backward pair belongs to one thread at a time (it mutates
// caches and gradients); entering either while another thread is inside one of them raises
// InvalidOperationException (an interlocked in-use flag, BeginForward/BeginBackward). Infer is
// safe to call concurrently as long as nobody writes the weights meanwhile.
//
// Names: a module's parameters, buffers and children are named exactly as PyTorch names them, and
// the dotted paths (0.weight, layers.0.self_attn.in_proj_weight) are PyTorch's state_dict keys.
// One Parameter<T> may be shared by several modules (tied weights): Parameters() yields it once,
// StateDict() writes it under every name.
namespace NeuralPrimitives;

/// <summary>
/// Base class of every layer: named parameters, buffers and child modules (PyTorch names), training/evaluation
/// mode, <see cref="ZeroGrad"/>, <see cref="StateDict"/> / <see cref="LoadStateDict(IStateDictSource, bool)"/>,
/// and the checks that keep a Forward/Backward pair from being misused. See <see cref="Linear{T}"/> for the
/// forward/backward contract.
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public abstract class Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private List<(string Name, Module<T> Module)>? _registeredModules;
    private List<(string Name, Parameter<T> Parameter)>? _registeredParameters;
    private List<(string Name, Buffer<T> Buffer)>? _registeredBuffers;
    private Parameter<T>[]? _allParameters;
    private int _allParametersVersion;
    private static int s_structureVersion; // bumped whenever any module gains a child or parameter (invalidates ZeroGrad's list)

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

    // ---- structure: parameters, buffers, children ---------------------------------------------

    /// <summary>
    /// The parameters this module owns directly (not those of its children), named by
    /// <see cref="Parameter{T}.Name"/>. Override this or <see cref="NamedOwnParameters"/>, or call
    /// <see cref="RegisterParameter"/> in the constructor.
    /// </summary>
    protected virtual IEnumerable<Parameter<T>> OwnParameters() => [];

    /// <summary>
    /// The parameters this module owns directly with the names this module gives them (its attribute names).
    /// Defaults to the registered parameters followed by <see cref="OwnParameters"/> under their own names;
    /// a module whose parameter can be replaced by a shared one (a tied weight) overrides it so the name stays its own.
    /// </summary>
    protected virtual IEnumerable<(string Name, Parameter<T> Parameter)> NamedOwnParameters()
    {
        if (_registeredParameters is not null) foreach (var np in _registeredParameters) yield return np;
        foreach (var p in OwnParameters()) yield return (p.Name, p);
    }

    /// <summary>The non-trainable state this module owns directly (PyTorch's buffers, e.g. running statistics).</summary>
    protected virtual IEnumerable<(string Name, Buffer<T> Buffer)> NamedOwnBuffers() =>
        _registeredBuffers ?? (IEnumerable<(string, Buffer<T>)>)[];

    /// <summary>The direct child modules with their attribute names (used as name prefixes). Defaults to the registered ones.</summary>
    protected virtual IEnumerable<(string Name, Module<T> Module)> Children() =>
        _registeredModules ?? (IEnumerable<(string, Module<T>)>)[];

    /// <summary>The direct child modules with their names (PyTorch's <c>named_children()</c>).</summary>
    public IEnumerable<(string Name, Module<T> Module)> NamedChildren() => Children();

    /// <summary>
    /// Registers a child module under <paramref name="name"/> (PyTorch's attribute assignment / <c>add_module</c>):
    /// its parameters appear as <c>name.…</c>. Call it in the constructor; returns the module for chaining.
    /// </summary>
    protected TModule RegisterModule<TModule>(string name, TModule module) where TModule : Module<T>
    {
        Register(ref _registeredModules, name, module, nameof(module));
        StructureChanged();
        return module;
    }

    /// <summary>Registers a parameter under <paramref name="name"/> (PyTorch's <c>register_parameter</c>); returns it.</summary>
    protected Parameter<T> RegisterParameter(string name, Parameter<T> parameter)
    {
        Register(ref _registeredParameters, name, parameter, nameof(parameter));
        StructureChanged();
        return parameter;
    }

    /// <summary>Registers a buffer under <paramref name="name"/> (PyTorch's <c>register_buffer</c>); returns it.</summary>
    protected Buffer<T> RegisterBuffer(string name, Buffer<T> buffer) => Register(ref _registeredBuffers, name, buffer, nameof(buffer));

    // Adds (name, item) to one of the registries, once item is known to be non-null and name to be free.
    private TItem Register<TItem>(ref List<(string, TItem)>? registry, string name, TItem item, string itemArgument) where TItem : class
    {
        ArgumentNullException.ThrowIfNull(item, itemArgument);
        CheckNewName(name, nameof(name));
        (registry ??= []).Add((name, item));
        return item;
    }

    /// <summary>Call when this module's set of children or parameters changes after construction (containers do).</summary>
    protected static void StructureChanged() => Interlocked.Increment(ref s_structureVersion);

    private void CheckNewName(string name, string argument)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name, argument);
        if (name.Contains('.'))
            throw new ArgumentException($"{argument} must not contain '.', got '{name}'.", argument);
        bool taken = (_registeredModules?.Any(m => m.Name == name) ?? false)
                  || (_registeredParameters?.Any(p => p.Name == name) ?? false)
                  || (_registeredBuffers?.Any(b => b.Name == name) ?? false);
        if (taken) throw new ArgumentException($"{argument} '{name}' is already registered on {DisplayName}.", argument);
    }

    /// <summary>
    /// All parameters with their full dotted names, e.g. <c>0.weight</c>, in PyTorch's state_dict order.
    /// A parameter shared by several modules (a tied weight) is listed once, under its first name, unless
    /// <paramref name="removeDuplicate"/> is false (PyTorch's <c>named_parameters(remove_duplicate=...)</c>).
    /// </summary>
    public IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters(bool removeDuplicate = true)
    {
        var seen = removeDuplicate ? new HashSet<Parameter<T>>(ReferenceEqualityComparer.Instance) : null;
        foreach (var np in AllNamedParameters(""))
            if (seen is null || seen.Add(np.Parameter)) yield return np;
    }

    private IEnumerable<(string Name, Parameter<T> Parameter)> AllNamedParameters(string prefix)
    {
        foreach (var (name, p) in NamedOwnParameters()) yield return (prefix + name, p);
        foreach (var (childName, child) in Children())
            foreach (var np in child.AllNamedParameters(prefix + childName + "."))
                yield return np;
    }

    /// <summary>All distinct parameters (own and children's), each once even when shared (PyTorch's <c>parameters()</c>).</summary>
    public IEnumerable<Parameter<T>> Parameters() => NamedParameters().Select(np => np.Parameter);

    /// <summary>All buffers with their full dotted names (PyTorch's <c>named_buffers()</c>).</summary>
    public IEnumerable<(string Name, Buffer<T> Buffer)> NamedBuffers() => AllNamedBuffers("");

    private IEnumerable<(string Name, Buffer<T> Buffer)> AllNamedBuffers(string prefix)
    {
        foreach (var (name, b) in NamedOwnBuffers()) yield return (prefix + name, b);
        foreach (var (childName, child) in Children())
            foreach (var nb in child.AllNamedBuffers(prefix + childName + "."))
                yield return nb;
    }

    /// <summary>This module and every module below it, with dotted names (the root is <c>""</c>; PyTorch's <c>named_modules()</c>).</summary>
    public IEnumerable<(string Name, Module<T> Module)> NamedModules()
    {
        yield return ("", this);
        foreach (var (childName, child) in Children())
            foreach (var (name, m) in child.NamedModules())
                yield return (name.Length == 0 ? childName : childName + "." + name, m);
    }

    /// <summary>Looks up a parameter by its full dotted name; throws <see cref="KeyNotFoundException"/> listing the valid names.</summary>
    public Parameter<T> GetParameter(string name)
    {
        foreach (var (n, p) in NamedParameters(removeDuplicate: false)) if (n == name) return p;
        throw new KeyNotFoundException($"No parameter named '{name}'. Parameters: {string.Join(", ", NamedParameters(removeDuplicate: false).Select(np => np.Name))}.");
    }

    /// <summary>Resets every parameter's accumulated gradient to zero. Allocates nothing after the first call.</summary>
    /// <remarks>The flattened parameter list is cached, and rebuilt when any module's structure changed since.</remarks>
    public void ZeroGrad()
    {
        int version = Volatile.Read(ref s_structureVersion);
        if (_allParameters is null || _allParametersVersion != version)
        {
            _allParameters = Parameters().ToArray();
            _allParametersVersion = version;
        }
        foreach (var p in _allParameters) p.ZeroGrad();
    }

    // ---- state_dict ------------------------------------------------------------------------------

    /// <summary>
    /// The module's state in PyTorch's <c>state_dict()</c> order: every parameter (under every name, so a tied
    /// weight appears under both) and every buffer, as tensor <b>views</b> of the live values (no copy, as in
    /// PyTorch: training changes them; copy a tensor to keep a snapshot). Save it with <c>SafeTensors.Save</c>.
    /// </summary>
    public OrderedDictionary<string, Tensor<T>> StateDict()
    {
        var state = new OrderedDictionary<string, Tensor<T>>();
        foreach (var (name, p) in NamedParameters(removeDuplicate: false)) state.Add(name, p.Value);
        foreach (var (name, b) in NamedBuffers()) state.Add(name, b.Value);
        return state;
    }

    /// <summary>
    /// Copies a state into this module's parameters and buffers (PyTorch's <c>load_state_dict</c>). Every
    /// shape mismatch is an <see cref="ArgumentException"/> listing each key with its expected and actual shape.
    /// With <paramref name="strict"/> (the default), missing and unexpected keys are an <see cref="ArgumentException"/>
    /// naming all of them; otherwise they are returned. A tied parameter is filled once, from its first name present.
    /// Nothing is written unless every check passes.
    /// </summary>
    /// <param name="state">Name → tensor, e.g. a <see cref="StateDict"/> or what <c>SafeTensors.Load</c> returns.</param>
    /// <param name="strict">Whether keys must match exactly.</param>
    /// <returns>The missing and unexpected keys (empty when <paramref name="strict"/>).</returns>
    /// <typeparam name="TSource">The state's element type; values are converted to <typeparamref name="T"/>.</typeparam>
    public LoadStateDictResult LoadStateDict<TSource>(IReadOnlyDictionary<string, Tensor<TSource>> state, bool strict = true)
        where TSource : unmanaged, IBinaryFloatingPointIeee754<TSource>
    {
        ArgumentNullException.ThrowIfNull(state);
        return LoadStateDict(new TensorDictionarySource<TSource>(state), strict);
    }

    /// <summary>
    /// Copies a state from any source (a safetensors file streams each tensor straight into the
    /// parameter, converting its dtype) into this module. Same rules as <see cref="LoadStateDict{TSource}(IReadOnlyDictionary{string, Tensor{TSource}}, bool)"/>.
    /// </summary>
    public LoadStateDictResult LoadStateDict(IStateDictSource source, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(source);
        var targets = new List<(string Name, int[] Shape, Func<T[]> Data, object Identity)>();
        foreach (var (name, p) in NamedParameters(removeDuplicate: false)) targets.Add((name, p.Shape.ToArray(), () => p.Data, p));
        foreach (var (name, b) in NamedBuffers()) targets.Add((name, b.Shape.ToArray(), () => b.Data, b));

        var keys = new HashSet<string>(source.Keys);
        var expected = new HashSet<string>(targets.Select(t => t.Name));
        var missing = targets.Select(t => t.Name).Where(n => !keys.Contains(n)).ToList();
        var unexpected = source.Keys.Where(k => !expected.Contains(k)).ToList();
        var mismatches = new List<string>();
        foreach (var (name, shape, _, _) in targets)
            if (keys.Contains(name) && !source.GetShape(name).AsSpan().SequenceEqual(shape))
                mismatches.Add($"'{name}': expected {Shapes.Format(shape)}, got {Shapes.Format(source.GetShape(name))}");

        var problems = new List<string>();
        if (mismatches.Count > 0) problems.Add($"size mismatch for {string.Join("; ", mismatches)}");
        if (strict && missing.Count > 0) problems.Add($"missing keys: {string.Join(", ", missing)}");
        if (strict && unexpected.Count > 0) problems.Add($"unexpected keys: {string.Join(", ", unexpected)}");
        if (problems.Count > 0)
            throw new ArgumentException($"Error(s) loading the state into {DisplayName}: {string.Join(". ", problems)}.", "state");

        var filled = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var (name, _, data, identity) in targets)
            if (keys.Contains(name) && filled.Add(identity)) source.CopyTo(name, data().AsSpan());
        return new LoadStateDictResult(missing, unexpected);
    }

    // ---- misuse detection for the Forward/Backward pair -----------------------------------------

    private const int Idle = 0, Busy = 1;
    private int _inUse;               // Idle or Busy (interlocked): one thread inside Forward/Backward at a time
    private TrainingState _state;     // what Backward may do next

    private enum TrainingState { NoForward, ForwardFailed, ForwardDone, BackwardDone }

    /// <summary>The module's type name without generic arity (used in error messages), e.g. <c>Linear</c>.</summary>
    protected string DisplayName
    {
        get
        {
            var n = GetType().Name;
            int tick = n.IndexOf('`');
            return tick < 0 ? n : n[..tick];
        }
    }

    /// <summary>
    /// Call at the start of a training Forward: <c>using var pass = BeginForward();</c> … <c>pass.Complete();</c>.
    /// Throws <see cref="InvalidOperationException"/> if another thread is inside this module's Forward or Backward.
    /// Until <see cref="TrainingPass.Complete()"/> runs, the module has no valid cache, so a Backward after a Forward
    /// that threw is refused instead of running against an earlier input.
    /// </summary>
    protected TrainingPass BeginForward()
    {
        Enter("Forward");
        _state = TrainingState.ForwardFailed;
        return new TrainingPass(this, forward: true);
    }

    /// <summary>
    /// Call at the start of a Backward: <c>using var pass = BeginBackward();</c> … <c>pass.Complete();</c>.
    /// Throws <see cref="InvalidOperationException"/> naming the module for a Backward before any Forward, after a
    /// Forward that threw, a second Backward after one Forward, or one entered while another thread is inside the module.
    /// A Backward that throws before <see cref="TrainingPass.Complete()"/> (e.g. on a wrong dOutput shape) may be retried.
    /// </summary>
    protected TrainingPass BeginBackward()
    {
        Enter("Backward");
        var state = _state;
        if (state != TrainingState.ForwardDone)
        {
            Volatile.Write(ref _inUse, Idle);
            throw new InvalidOperationException(state switch
            {
                TrainingState.NoForward => $"{DisplayName}.Backward called before Forward.",
                TrainingState.ForwardFailed => $"{DisplayName}.Backward called after a Forward that threw: there is no valid forward pass to differentiate.",
                _ => $"{DisplayName}.Backward called twice after one Forward: gradients would be accumulated twice. Run Forward again first (one module used twice in one step needs two instances, or tie their parameters).",
            });
        }
        return new TrainingPass(this, forward: false);
    }

    private void CheckOwnGradients()
    {
        foreach (var (name, p) in NamedOwnParameters())
        {
            if (p.HasDenseGrad) AnomalyDetection.Check<T>(p.Grad, DisplayName, name + ".grad", "Backward");
            if (p.SparseGrad is { } sparse)
                for (int slot = 0; slot < sparse.Count; slot++)
                    AnomalyDetection.Check<T>(sparse.SlotValues(slot), DisplayName, $"{name}.grad (row {sparse.TouchedRows[slot]})", "Backward");
        }
    }

    private void Enter(string what)
    {
        if (Interlocked.CompareExchange(ref _inUse, Busy, Idle) != Idle)
            throw new InvalidOperationException(
                $"{DisplayName}.{what} entered while another call to its Forward or Backward is running (two threads training one module). " +
                "A module's training pair belongs to one thread at a time; use Infer for concurrent inference, or one module per thread.");
    }

    /// <summary>A Forward or Backward in progress (see <see cref="BeginForward"/>); dispose it when the call ends.</summary>
    protected ref struct TrainingPass
    {
        private readonly Module<T> _module;
        private readonly bool _forward;

        internal TrainingPass(Module<T> module, bool forward)
        {
            _module = module;
            _forward = forward;
        }

        /// <summary>Marks the call as successful: after a Forward, Backward may run once; after a Backward, it may not run again.</summary>
        public readonly void Complete()
        {
            _module._state = _forward ? TrainingState.ForwardDone : TrainingState.BackwardDone;
            if (AnomalyDetection.Enabled && !_forward) _module.CheckOwnGradients();
        }

        /// <summary>
        /// As <see cref="Complete()"/>, and with <see cref="AnomalyDetection.Enabled"/> also checks the call's result
        /// (a Forward's output, a Backward's dInput) for NaN or ±∞, naming this module and <paramref name="name"/>.
        /// </summary>
        public readonly void Complete(ReadOnlySpan<T> result, string name)
        {
            if (AnomalyDetection.Enabled) AnomalyDetection.Check(result, _module.DisplayName, name, _forward ? "Forward" : "Backward");
            Complete();
        }

        /// <summary>Releases the module's in-use flag.</summary>
        public readonly void Dispose() => Volatile.Write(ref _module._inUse, Idle);
    }
}

/// <summary>Keys that <see cref="Module{T}.LoadStateDict(IStateDictSource, bool)"/> found missing or unexpected (PyTorch's <c>_IncompatibleKeys</c>).</summary>
/// <param name="MissingKeys">The module's keys that the state did not have.</param>
/// <param name="UnexpectedKeys">The state's keys that the module does not have.</param>
public sealed record LoadStateDictResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>
/// A module mapping one tensor to one tensor, with the training pair <see cref="Forward"/> /
/// <see cref="Backward"/> and the cache-free, thread-safe <see cref="Infer"/>. <see cref="Sequential{T}"/> chains these.
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
