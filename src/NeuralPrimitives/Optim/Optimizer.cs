// What every optimiser shares (PyTorch's torch.optim.Optimizer):
//
//   speed       updates read and write several arrays per element and do little arithmetic, so they are
//               bound by memory bandwidth: each optimiser makes ONE fused pass per parameter (an element-wise
//               kernel over Kernels/Lanes.cs, vector body and scalar tail from one definition), where
//               PyTorch's single-tensor and foreach paths make one pass per tensor operation.
//   groups      parameters are given as one list or as parameter groups (ParamGroup<T>), each with its own
//               hyperparameters (missing ones take the optimiser's defaults). A parameter may appear only once.
//   Step()      for each group, for each parameter that has a gradient, one update θ ← update(θ, g, state).
//               A parameter "has a gradient" when it is trainable (RequiresGrad) and either its dense Grad buffer
//               exists or it keeps a row-sparse gradient (SparseGrad); one that no Backward has reached yet is
//               skipped, as PyTorch skips a parameter whose .grad is None. A row-sparse gradient is read as
//               rows (SparseGrad), never through Grad, so no optimiser ever reads a silent zero gradient.
//   ZeroGrad()  sets every group's gradients to zero (dense buffers cleared in place, sparse rows forgotten).
//   state       per parameter, created at its first update (Adagrad: at construction), keyed like PyTorch's
//               state_dict: parameters are numbered 0, 1, … through the groups in order, and
//                   state.{i}.step                      the update count of parameter i (a [1] tensor; PyTorch: 0-d)
//                   state.{i}.exp_avg, .exp_avg_sq, …   the optimiser's buffers, each shaped like parameter i
//               with the groups' hyperparameters as text metadata:
//                   optimizer = AdamW, param_groups.{g}.params = [0,1,2], param_groups.{g}.lr = 0.001,
//                   param_groups.{g}.betas = [0.9,0.999], param_groups.{g}.amsgrad = false, …
//               so StateDict() goes straight into SafeTensors.Save(tensors, metadata) and LoadStateDict resumes
//               the run bit for bit (hyperparameters are written in shortest round-trip form).
//
// Element-wise updates run through Elementwise<T> (SIMD + scalar tail, one definition of the math); a
// parameter of RangeSplitThreshold elements or more is split into ranges run on Parallelism.NumThreads threads
// (ParallelRanges, Kernels/Parallelism.cs; the update is memory-bound, so both cores' bandwidth helps). Nothing is allocated by Step after each
// parameter's state exists.
using System.Globalization;

namespace NeuralPrimitives;

/// <summary>
/// What a learning-rate schedule needs from an optimiser: its parameter groups (whose <see cref="ParamGroup.Lr"/>
/// it writes). Implemented by every <see cref="Optimizer{T}"/>.
/// </summary>
public interface IOptimizer
{
    /// <summary>The parameter groups with their hyperparameters.</summary>
    IReadOnlyList<ParamGroup> ParamGroups { get; }

    /// <summary>Performs one optimisation step.</summary>
    void Step();

    /// <summary>Sets the gradients of every optimised parameter to zero.</summary>
    void ZeroGrad();
}

/// <summary>
/// An optimiser's state in a form safetensors can hold: <see cref="Tensors"/> (<c>state.{i}.exp_avg</c>, …, views of the
/// live buffers, except <c>step</c>) and <see cref="Metadata"/> (the optimiser's name and each group's hyperparameters).
/// Save it with <c>SafeTensors.Save(path, state.Tensors, state.Metadata)</c>.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
/// <param name="Tensors">Per-parameter state tensors keyed <c>state.{index}.{name}</c> (PyTorch's indices over the groups).</param>
/// <param name="Metadata">The optimiser's name (<c>optimizer</c>) and <c>param_groups.{g}.{hyperparameter}</c> entries.</param>
public sealed record OptimizerStateDict<T>(OrderedDictionary<string, Tensor<T>> Tensors, Dictionary<string, string> Metadata)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>The running state of one parameter: its update count and the optimiser's buffers (by slot).</summary>
internal sealed class ParameterState<T>(int slots)
{
    /// <summary>How many updates the parameter has had (PyTorch's <c>state['step']</c>).</summary>
    public long Step;

    /// <summary>The optimiser's buffers by slot (see the optimiser's state names); null until needed.</summary>
    public readonly T[]?[] Buffers = new T[]?[slots];

    /// <summary>Optimiser-specific extra state that is not saved (e.g. which rows a sparse momentum buffer holds).</summary>
    public object? Extra;
}

/// <summary>
/// Base class of the optimisers (<see cref="Sgd{T}"/>, <see cref="Adam{T}"/>, <see cref="AdamW{T}"/>, <see cref="RmsProp{T}"/>,
/// <see cref="Adagrad{T}"/>): parameter groups, <see cref="Step"/>, <see cref="ZeroGrad"/>, and a PyTorch-keyed
/// <see cref="StateDict"/> / <see cref="LoadStateDict(IStateDictSource, IReadOnlyDictionary{string, string})"/> for resuming a run.
/// Hyperparameters are doubles; the update is computed in <typeparamref name="T"/>.
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public abstract class Optimizer<T> : IOptimizer where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Parameters with at least this many elements are updated on <see cref="Parallelism.NumThreads"/> threads (two parts of <see cref="ParallelRanges"/>).</summary>
    internal const int RangeSplitThreshold = 2 * ParallelRanges.MinPartLength;

    private readonly ParamGroup<T>[] _groups;
    private readonly Parameter<T>[][] _groupParameters;
    private readonly int[] _firstIndex;         // PyTorch state index of each group's first parameter
    private readonly Parameter<T>[] _parameters; // every parameter by state index
    private readonly ParameterState<T>?[] _state;
    private readonly ParamGroup _defaults;

    private protected Optimizer(IEnumerable<ParamGroup<T>> paramGroups, ParamGroup defaults, string argument, bool singleList)
    {
        ArgumentNullException.ThrowIfNull(paramGroups, argument);
        _defaults = defaults;
        _groups = paramGroups.ToArray();
        if (_groups.Length == 0)
            throw new ArgumentException($"{argument} must contain at least one parameter group, got none.", argument);
        _groupParameters = new Parameter<T>[_groups.Length][];
        _firstIndex = new int[_groups.Length];
        var all = new List<Parameter<T>>();
        var seen = new Dictionary<Parameter<T>, string>(ReferenceEqualityComparer.Instance);
        for (int g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g] ?? throw new ArgumentException($"{argument}[{g}] is null (expected a ParamGroup).", argument);
            string prefix = singleList ? "" : $"{argument}[{g}].";
            _firstIndex[g] = all.Count;
            _groupParameters[g] = group.Parameters.ToArray();
            for (int j = 0; j < _groupParameters[g].Length; j++)
            {
                string where = singleList ? $"{argument}[{j}]" : $"{prefix}Parameters[{j}]";
                var p = _groupParameters[g][j] ?? throw new ArgumentException($"{where} is null (expected a Parameter).", argument);
                if (seen.TryGetValue(p, out var first))
                    throw new ArgumentException($"Parameter '{p}' is given twice: at {first} and at {where}; each parameter may appear only once.", argument);
                seen.Add(p, where);
                all.Add(p);
            }
            ResolveGroup(group, prefix, argument);
        }
        if (all.Count == 0)
            throw new ArgumentException($"{argument} must contain at least one parameter, got an empty list.", argument);
        _parameters = all.ToArray();
        _state = new ParameterState<T>?[_parameters.Length];
        for (int g = 0; g < _groups.Length; g++)
            foreach (var p in _groupParameters[g])
                if (p.SparseGrad is not null && SparseProblem(_groups[g]) is string problem)
                    throw new ArgumentException($"Parameter '{p}' has a row-sparse gradient: {problem}", argument);
    }

    /// <summary>The optimiser's name (<c>AdamW</c>), written into the state metadata and checked on load.</summary>
    public string Name => GetType().Name.Split('`')[0];

    /// <summary>The parameter groups (PyTorch's <c>param_groups</c>). Schedules write their <see cref="ParamGroup.Lr"/>.</summary>
    public IReadOnlyList<ParamGroup<T>> ParamGroups => _groups;

    IReadOnlyList<ParamGroup> IOptimizer.ParamGroups => _groups;

    /// <summary>
    /// Performs one update of every parameter that has a gradient (see the class remarks). Allocates nothing once each
    /// parameter's state exists. Throws <see cref="InvalidOperationException"/> when a group's hyperparameters were
    /// changed into an invalid combination (e.g. Nesterov with dampening) or a row-sparse gradient meets an option
    /// that does not support it.
    /// </summary>
    public void Step()
    {
        for (int g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g];
            if (GroupProblem(group) is string problem)
                throw new InvalidOperationException($"ParamGroups[{g}]: {problem}");
            var parameters = _groupParameters[g];
            for (int j = 0; j < parameters.Length; j++)
            {
                var p = parameters[j];
                if (!p.RequiresGrad) continue;
                var sparse = p.SparseGrad;
                if (sparse is null && !p.HasDenseGrad) continue;
                int index = _firstIndex[g] + j;
                var state = _state[index] ??= NewState(index, group);
                if (sparse is null)
                {
                    StepDense(group, g, p, state);
                    continue;
                }
                if (SparseProblem(group) is string sparseProblem)
                    throw new InvalidOperationException($"Parameter '{p}' (ParamGroups[{g}]) has a row-sparse gradient: {sparseProblem}");
                StepSparse(group, g, p, sparse, state);
            }
        }
    }

    /// <summary>Sets the gradient of every parameter of every group to zero (in place; allocates nothing).</summary>
    public void ZeroGrad()
    {
        foreach (var parameters in _groupParameters)
            foreach (var p in parameters) p.ZeroGrad();
    }

    // ---- what each optimiser defines --------------------------------------------------------------

    /// <summary>PyTorch's names of the per-parameter buffers, by slot (e.g. <c>exp_avg</c>, <c>exp_avg_sq</c>).</summary>
    private protected abstract string[] StateNames { get; }

    /// <summary>Whether the state has a <c>step</c> count (SGD's has none).</summary>
    private protected virtual bool CountsSteps => true;

    /// <summary>Whether a loaded state must hold buffer <paramref name="slot"/> for a parameter of a group with these hyperparameters.</summary>
    private protected abstract bool RequiresSlot(int slot, ParamGroup group);

    /// <summary>Why this combination of a group's hyperparameters is invalid, or null.</summary>
    private protected virtual string? GroupProblem(ParamGroup group) => null;

    /// <summary>Why a row-sparse gradient cannot be used with these hyperparameters, or null.</summary>
    private protected virtual string? SparseProblem(ParamGroup group) => null;

    /// <summary>One update of a parameter with a dense gradient (<see cref="Parameter{T}.Grad"/>).</summary>
    private protected abstract void StepDense(ParamGroup group, int groupIndex, Parameter<T> parameter, ParameterState<T> state);

    /// <summary>One update of a parameter with a row-sparse gradient.</summary>
    private protected abstract void StepSparse(ParamGroup group, int groupIndex, Parameter<T> parameter, RowSparseGradient<T> gradient, ParameterState<T> state);

    /// <summary>Updates elements [start, start + count) of the dense parameter being stepped (called by <see cref="RunRange"/>, possibly on several threads).</summary>
    private protected abstract void UpdateRange(int start, int count);

    /// <summary>Called when a parameter's state is created (before its first update, or eagerly).</summary>
    private protected virtual void InitializeState(ParameterState<T> state, Parameter<T> parameter, ParamGroup group) { }

    /// <summary>Called after <see cref="LoadStateDict(IStateDictSource, IReadOnlyDictionary{string, string})"/> filled a parameter's state.</summary>
    private protected virtual void StateLoaded(ParameterState<T> state, Parameter<T> parameter) { }

    // ---- helpers for the optimisers ----------------------------------------------------------------

    /// <summary>Wraps a plain parameter list as one group.</summary>
    private protected static IEnumerable<ParamGroup<T>> SingleGroup(IEnumerable<Parameter<T>> parameters) => [new ParamGroup<T>(parameters)];

    /// <summary>Buffer <paramref name="slot"/> of a state, created (filled with <paramref name="initial"/>) on first use.</summary>
    private protected static T[] Buffer(ParameterState<T> state, int slot, Parameter<T> parameter, double initial = 0)
    {
        var buffer = state.Buffers[slot];
        if (buffer is null)
        {
            buffer = new T[parameter.Length];
            if (initial != 0) Array.Fill(buffer, T.CreateTruncating(initial));
            state.Buffers[slot] = buffer;
        }
        return buffer;
    }

    /// <summary>Creates the state of every parameter now (Adagrad does, as PyTorch's does in its constructor).</summary>
    private protected void CreateAllStates()
    {
        for (int g = 0; g < _groups.Length; g++)
            for (int j = 0; j < _groupParameters[g].Length; j++)
                _state[_firstIndex[g] + j] ??= NewState(_firstIndex[g] + j, _groups[g]);
    }

    /// <summary>θ, the data of the dense parameter being stepped (set by <see cref="RunRange"/> for <see cref="UpdateRange"/>).</summary>
    private protected T[] Theta { get; private set; } = [];

    /// <summary>g, the gradient of the dense parameter being stepped (set by <see cref="RunRange"/> for <see cref="UpdateRange"/>).</summary>
    private protected T[] Grad { get; private set; } = [];

    /// <summary>
    /// Runs <see cref="UpdateRange"/> over the elements of <paramref name="parameter"/>, split across threads when it is
    /// large, with <see cref="Theta"/> and <see cref="Grad"/> set to its data and gradient.
    /// </summary>
    private protected void RunRange(Parameter<T> parameter)
    {
        (Theta, Grad) = (parameter.Data, parameter.Grad);
        ParallelRanges.Run(new Update(this), parameter.Length);
        Theta = Grad = [];
    }

    private ParameterState<T> NewState(int index, ParamGroup group)
    {
        var state = new ParameterState<T>(StateNames.Length);
        InitializeState(state, _parameters[index], group);
        return state;
    }

    // Fills the group's missing hyperparameters from the defaults and checks the given ones.
    private void ResolveGroup(ParamGroup group, string prefix, string argument)
    {
        for (var h = (Hyper)0; h < Hyper.Count; h++)
        {
            if (h == Hyper.InitialLr) continue;
            double? given = group.Get(h), fallback = _defaults.Get(h);
            if (given is double v)
            {
                if (fallback is null)
                    throw new ArgumentException($"{prefix}{HyperParameters.PropertyName(h)} is set, but {Name} has no such hyperparameter.", argument);
                if (h == Hyper.Lr) HyperParameters.Check(h, v, argument, $"{prefix}Lr", strictLr: true);
            }
            else group.Set(h, fallback);
        }
        if (GroupProblem(group) is string problem)
            throw new ArgumentException(prefix.Length == 0 ? problem : $"{prefix.TrimEnd('.')}: {problem}", argument);
    }

    // ---- state dict -----------------------------------------------------------------------------------

    /// <summary>
    /// The optimiser's state (PyTorch's <c>optimizer.state_dict()</c>) as tensors plus text metadata; see the class remarks
    /// for the keys. Buffer tensors are views of the live state (no copy): save them before the next <see cref="Step"/>,
    /// or copy them to keep a snapshot.
    /// </summary>
    public OptimizerStateDict<T> StateDict()
    {
        var tensors = new OrderedDictionary<string, Tensor<T>>();
        var names = StateNames;
        for (int i = 0; i < _parameters.Length; i++)
        {
            var state = _state[i];
            if (state is null) continue;
            var shape = _parameters[i].Value.Lengths.ToArray();
            if (CountsSteps) tensors.Add($"state.{i}.step", Tensor.Create([T.CreateTruncating(state.Step)], [1]));
            for (int s = 0; s < names.Length; s++)
                if (state.Buffers[s] is T[] buffer) tensors.Add($"state.{i}.{names[s]}", Tensor.Create(buffer, shape));
        }
        var metadata = new Dictionary<string, string> { ["optimizer"] = Name };
        for (int g = 0; g < _groups.Length; g++)
        {
            metadata[$"param_groups.{g}.params"] = "[" + string.Join(",", Enumerable.Range(_firstIndex[g], _groupParameters[g].Length)) + "]";
            foreach (var (name, value) in HyperParameters.ToText(_groups[g])) metadata[$"param_groups.{g}.{name}"] = value;
        }
        return new OptimizerStateDict<T>(tensors, metadata);
    }

    /// <summary>Loads a state written by <see cref="StateDict"/> (same rules as <see cref="LoadStateDict(IStateDictSource, IReadOnlyDictionary{string, string})"/>).</summary>
    /// <param name="state">The tensors and metadata.</param>
    public void LoadStateDict(OptimizerStateDict<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        LoadStateDict(state.Tensors, state.Metadata);
    }

    /// <summary>Loads state tensors and metadata (e.g. read back from a safetensors file); see <see cref="LoadStateDict(IStateDictSource, IReadOnlyDictionary{string, string})"/>.</summary>
    /// <param name="tensors">The <c>state.{i}.{name}</c> tensors.</param>
    /// <param name="metadata">The <c>optimizer</c> and <c>param_groups.{g}.{name}</c> entries.</param>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor<T>> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        LoadStateDict(new TensorDictionarySource<T>(tensors), metadata);
    }

    /// <summary>
    /// Replaces the optimiser's state and its groups' hyperparameters with saved ones (PyTorch's <c>load_state_dict</c>),
    /// so that training resumes exactly where it was saved. Checks, before changing anything, that the state comes from
    /// the same kind of optimiser, has as many groups with as many parameters, every hyperparameter is present and valid,
    /// and every tensor key is known with its parameter's shape; every problem is listed in one
    /// <see cref="ArgumentException"/> naming the key with its expected and actual value.
    /// </summary>
    /// <param name="tensors">The <c>state.{i}.{name}</c> tensors (e.g. a safetensors file, which streams each one into its buffer).</param>
    /// <param name="metadata">The <c>optimizer</c> and <c>param_groups.{g}.{name}</c> entries.</param>
    public void LoadStateDict(IStateDictSource tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        var metaProblems = new List<string>();
        var loadedGroups = ReadGroups(metadata, metaProblems);
        var tensorProblems = new List<string>();
        var present = ReadStateKeys(tensors, loadedGroups, tensorProblems);
        var steps = ReadSteps(tensors, present, tensorProblems);
        if (metaProblems.Count + tensorProblems.Count > 0)
        {
            string argument = metaProblems.Count > 0 ? nameof(metadata) : nameof(tensors);
            throw new ArgumentException($"Error(s) loading a state into this {Name}: {string.Join("; ", metaProblems.Concat(tensorProblems))}.", argument);
        }

        for (int g = 0; g < _groups.Length; g++)
            for (var h = (Hyper)0; h < Hyper.Count; h++)
                if (_defaults.Get(h) is not null || h == Hyper.InitialLr) _groups[g].Set(h, loadedGroups![g].Get(h));
        var names = StateNames;
        for (int i = 0; i < _parameters.Length; i++)
        {
            _state[i] = null;
            if (present[i] is null) continue;
            var state = new ParameterState<T>(names.Length) { Step = steps[i] };
            for (int s = 0; s < names.Length; s++)
                if (present[i]!.Contains(names[s]))
                    tensors.CopyTo($"state.{i}.{names[s]}", (state.Buffers[s] = new T[_parameters[i].Length]).AsSpan());
            _state[i] = state;
            StateLoaded(state, _parameters[i]);
        }
    }

    // Parses and checks the groups' hyperparameters from the metadata; null when the group structure does not match.
    private ParamGroup[]? ReadGroups(IReadOnlyDictionary<string, string> metadata, List<string> problems)
    {
        if (!metadata.TryGetValue("optimizer", out var name))
            problems.Add($"the metadata has no 'optimizer' entry (expected '{Name}')");
        else if (name != Name)
            problems.Add($"'optimizer' is '{name}', expected '{Name}'");
        int saved = 0;
        while (metadata.ContainsKey($"param_groups.{saved}.params")) saved++;
        if (saved != _groups.Length)
        {
            problems.Add($"the state has {saved} parameter group(s) (param_groups.{{g}}.params entries), this {Name} has {_groups.Length}");
            return null;
        }
        var loaded = new ParamGroup[saved];
        for (int g = 0; g < saved; g++)
        {
            string paramsKey = $"param_groups.{g}.params";
            int count = metadata[paramsKey].Trim('[', ']', ' ').Split(',', StringSplitOptions.RemoveEmptyEntries).Length;
            if (count != _groupParameters[g].Length)
                problems.Add($"'{paramsKey}' lists {count} parameter(s), expected {_groupParameters[g].Length} (this optimiser's group {g})");
            var group = loaded[g] = new HyperDefaults();
            foreach (var (h, torchName) in HyperParameters.Named())
            {
                bool required = _defaults.Get(h) is not null;
                if (!required && h != Hyper.InitialLr) continue;
                string key = $"param_groups.{g}.{torchName}";
                if (!metadata.TryGetValue(key, out var text))
                {
                    if (required) problems.Add($"missing '{key}'");
                    continue;
                }
                if (!HyperParameters.TryParse(h, text, group)) { problems.Add($"'{key}' is '{text}', which is not a valid {torchName}"); continue; }
                string? bad = HyperParameters.Problem(h, group.Get(h)!.Value, $"'{key}'", strictLr: false);
                if (h == Hyper.Beta1) bad ??= HyperParameters.Problem(Hyper.Beta2, group.Get(Hyper.Beta2)!.Value, $"'{key}' (β2)", strictLr: false);
                if (bad is not null) problems.Add(bad.TrimEnd('.'));
            }
            if (GroupProblem(group) is string problem) problems.Add($"param_groups.{g}: {problem.TrimEnd('.')}");
        }
        return loaded;
    }

    // Which state names are present for each parameter index (null: no state); records unknown keys and shape mismatches.
    private HashSet<string>?[] ReadStateKeys(IStateDictSource tensors, ParamGroup[]? groups, List<string> problems)
    {
        var present = new HashSet<string>?[_parameters.Length];
        var known = new HashSet<string>(StateNames);
        if (CountsSteps) known.Add("step");
        var unexpected = new List<string>();
        foreach (var key in tensors.Keys)
        {
            var parts = key.Split('.');
            if (parts.Length != 3 || parts[0] != "state" || !known.Contains(parts[2])
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int i) || i >= _parameters.Length)
            {
                unexpected.Add(key);
                continue;
            }
            var shape = tensors.GetShape(key);
            var expected = parts[2] == "step" ? [1] : _parameters[i].Shape.ToArray();
            bool ok = parts[2] == "step" ? shape.Aggregate(1L, (a, d) => a * d) == 1 : shape.AsSpan().SequenceEqual(expected);
            if (!ok) problems.Add($"'{key}' has shape {Shapes.Format(shape)}, expected {Shapes.Format(expected)} (parameter {i}: '{_parameters[i]}')");
            (present[i] ??= []).Add(parts[2]);
        }
        if (unexpected.Count > 0)
            problems.Add($"unexpected key(s) {string.Join(", ", unexpected)} (expected state.{{0..{_parameters.Length - 1}}}.{{{string.Join("|", known)}}})");
        var missing = new List<string>();
        for (int i = 0; i < present.Length; i++)
        {
            if (present[i] is null) continue;
            if (CountsSteps && !present[i]!.Contains("step")) missing.Add($"state.{i}.step");
            if (groups is null) continue;
            var group = groups[GroupOf(i)];
            for (int s = 0; s < StateNames.Length; s++)
                if (RequiresSlot(s, group) && !present[i]!.Contains(StateNames[s])) missing.Add($"state.{i}.{StateNames[s]}");
        }
        if (missing.Count > 0) problems.Add($"missing key(s) {string.Join(", ", missing)}");
        return present;
    }

    // Reads each present step count; it must be a whole number ≥ 0.
    private long[] ReadSteps(IStateDictSource tensors, HashSet<string>?[] present, List<string> problems)
    {
        var steps = new long[_parameters.Length];
        if (!CountsSteps) return steps;
        Span<double> one = stackalloc double[1];
        for (int i = 0; i < present.Length; i++)
        {
            if (present[i]?.Contains("step") != true) continue;
            string key = $"state.{i}.step";
            if (tensors.GetShape(key).Aggregate(1L, (a, d) => a * d) != 1) continue; // already reported
            tensors.CopyTo(key, one);
            if (!(one[0] >= 0 && one[0] == Math.Floor(one[0]) && one[0] < long.MaxValue))
                problems.Add($"'{key}' is {one[0]}, expected a whole number ≥ 0");
            else steps[i] = (long)one[0];
        }
        return steps;
    }

    private int GroupOf(int index)
    {
        int g = _groups.Length - 1;
        while (_firstIndex[g] > index) g--;
        return g;
    }

    /// <summary>Hyperparameter values without parameters: an optimiser's defaults, or groups read from a state.</summary>
    private protected sealed class HyperDefaults : ParamGroup
    {
        public HyperDefaults() { }

        /// <summary>
        /// An optimiser's defaults from its constructor's arguments (flags as 1 or 0), each checked in order: an
        /// <see cref="ArgumentOutOfRangeException"/> names the argument (the hyperparameter's camel-case name, e.g.
        /// <c>weightDecay</c>, <c>betas</c>); a learning rate must be &gt; 0.
        /// </summary>
        public HyperDefaults(params ReadOnlySpan<(Hyper Hyper, double Value)> arguments)
        {
            foreach (var (h, value) in arguments)
            {
                string name = HyperParameters.ArgumentName(h);
                HyperParameters.Check(h, value, name, name, strictLr: true);
                Set(h, value);
            }
        }
    }

    /// <summary>The update of elements [start, end) of the parameter being stepped (a range of <see cref="ParallelRanges"/>).</summary>
    private readonly struct Update(Optimizer<T> owner) : IRangeOperation
    {
        public void Run(int start, int end) => owner.UpdateRange(start, end - start);
    }
}
