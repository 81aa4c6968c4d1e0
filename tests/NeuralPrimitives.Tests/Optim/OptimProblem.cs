using System.Text.Json;

namespace NeuralPrimitives.Tests.Optim;

/// <summary>
/// The problem of tests/reference/fixtures_optim.py, computed here without any library loss code: parameters a [2, 3],
/// b [3] (dense) and e [6, 3] (row-sparse), and at step t the gradient
///     g = A ⊙ (θ − C) + 0.3 · sin(0.7 t + 1.1 k + 0.5 n)     (k = flat index, n = the parameter's number)
/// with e touched in rows [2t mod 6, (3t + 1) mod 6, 2t mod 6] (none when 7 divides t).
/// </summary>
internal sealed class OptimProblem<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private static readonly Dictionary<string, (int Number, int[] Shape)> s_layout = new()
    {
        ["a"] = (0, [2, 3]),
        ["b"] = (1, [3]),
        ["e"] = (2, [6, 3]),
    };

    private readonly Fixture _fixture;

    public OptimProblem(Fixture fixture, IEnumerable<string> names)
    {
        _fixture = fixture;
        foreach (var name in names)
        {
            var p = new Parameter<T>(name == "e" ? "weight" : name, s_layout[name].Shape);
            p.Load(Array.ConvertAll(fixture.Data($"init.{name}"), T.CreateTruncating));
            if (name == "e") p.UseSparseGrad();
            Parameters[name] = p;
        }
    }

    /// <summary>The parameters by fixture name, in the given order.</summary>
    public Dictionary<string, Parameter<T>> Parameters { get; } = [];

    public static int[] TouchedRows(int t) => t % 7 == 0 ? [] : [2 * t % 6, (3 * t + 1) % 6, 2 * t % 6];

    /// <summary>Step <paramref name="t"/>: its gradients, then one step of <paramref name="optimizer"/>.</summary>
    public void Step(Optimizer<T> optimizer, int t)
    {
        SetGradients(t);
        optimizer.Step();
    }

    /// <summary>Writes the gradients of step <paramref name="t"/> (replacing the previous ones, as the fixture assigns p.grad).</summary>
    public void SetGradients(int t)
    {
        foreach (var (name, p) in Parameters)
        {
            var g = Gradient(name, p.Data, t);
            if (p.SparseGrad is not { } sparse)
            {
                g.CopyTo(p.Grad, 0);
                continue;
            }
            p.ZeroGrad();
            int d = sparse.RowLength;
            foreach (int r in TouchedRows(t))
            {
                var row = sparse.Row(r);
                for (int j = 0; j < d; j++) row[j] += g[r * d + j];
            }
        }
    }

    private T[] Gradient(string name, T[] theta, int t)
    {
        double[] a = _fixture.Data($"A.{name}"), c = _fixture.Data($"C.{name}");
        int n = s_layout[name].Number;
        var g = new T[theta.Length];
        for (int k = 0; k < g.Length; k++)
            g[k] = T.CreateTruncating(a[k] * (double.CreateTruncating(theta[k]) - c[k]) + 0.3 * Math.Sin(0.7 * t + 1.1 * k + 0.5 * n));
        return g;
    }

    /// <summary>Copies the current values of every parameter (to compare runs).</summary>
    public Dictionary<string, T[]> Snapshot() => Parameters.ToDictionary(kv => kv.Key, kv => (T[])kv.Value.Data.Clone());

    /// <summary>Builds the optimiser a fixture case describes: meta.cases[case] = {optimizer, kwargs, groups?, csharp_kwargs?}.</summary>
    public Optimizer<T> Build(JsonElement spec)
    {
        var kw = new Kwargs(spec.GetProperty("kwargs"), spec.TryGetProperty("csharp_kwargs", out var extra) ? extra : null);
        var all = Parameters.Values.ToArray();
        ParamGroup<T>[]? groups = spec.TryGetProperty("groups", out var gs)
            ? gs.EnumerateArray().Select(Group).ToArray()
            : null;
        string kind = spec.GetProperty("optimizer").GetString()!;
        return kind switch
        {
            "SGD" => groups is null
                ? new Sgd<T>(all, kw.D("lr"), kw.D("momentum", 0), kw.D("dampening", 0), kw.D("weight_decay", 0), kw.B("nesterov"), kw.B("maximize"))
                : new Sgd<T>(groups, kw.D("lr"), kw.D("momentum", 0), kw.D("dampening", 0), kw.D("weight_decay", 0), kw.B("nesterov"), kw.B("maximize")),
            "Adam" => groups is null
                ? new Adam<T>(all, kw.D("lr", 1e-3), kw.Betas(), kw.D("eps", 1e-8), kw.D("weight_decay", 0), kw.B("amsgrad"), kw.B("maximize"))
                : new Adam<T>(groups, kw.D("lr", 1e-3), kw.Betas(), kw.D("eps", 1e-8), kw.D("weight_decay", 0), kw.B("amsgrad"), kw.B("maximize")),
            "AdamW" => groups is null
                ? new AdamW<T>(all, kw.D("lr", 1e-3), kw.Betas(), kw.D("eps", 1e-8), kw.D("weight_decay", 1e-2), kw.B("amsgrad"), kw.B("maximize"))
                : new AdamW<T>(groups, kw.D("lr", 1e-3), kw.Betas(), kw.D("eps", 1e-8), kw.D("weight_decay", 1e-2), kw.B("amsgrad"), kw.B("maximize")),
            "RMSprop" => new RmsProp<T>(all, kw.D("lr", 1e-2), kw.D("alpha", 0.99), kw.D("eps", 1e-8), kw.D("weight_decay", 0), kw.D("momentum", 0), kw.B("centered"), kw.B("maximize")),
            "Adagrad" => groups is null
                ? new Adagrad<T>(all, kw.D("lr", 1e-2), kw.D("lr_decay", 0), kw.D("weight_decay", 0), kw.D("initial_accumulator_value", 0), kw.D("eps", 1e-10), kw.B("maximize"))
                : new Adagrad<T>(groups, kw.D("lr", 1e-2), kw.D("lr_decay", 0), kw.D("weight_decay", 0), kw.D("initial_accumulator_value", 0), kw.D("eps", 1e-10), kw.B("maximize")),
            _ => throw new NotSupportedException(kind),
        };
    }

    // A PyTorch param-group dict {params: [names], lr: …, weight_decay: …} as a ParamGroup.
    private ParamGroup<T> Group(JsonElement g)
    {
        var group = new ParamGroup<T>(g.GetProperty("params").EnumerateArray().Select(n => Parameters[n.GetString()!]));
        foreach (var prop in g.EnumerateObject())
        {
            switch (prop.Name)
            {
                case "params": break;
                case "lr": group.Lr = prop.Value.GetDouble(); break;
                case "weight_decay": group.WeightDecay = prop.Value.GetDouble(); break;
                case "momentum": group.Momentum = prop.Value.GetDouble(); break;
                case "nesterov": group.Nesterov = prop.Value.GetBoolean(); break;
                case "betas": group.Betas = (prop.Value[0].GetDouble(), prop.Value[1].GetDouble()); break;
                case "lr_decay": group.LrDecay = prop.Value.GetDouble(); break;
                case "initial_accumulator_value": group.InitialAccumulatorValue = prop.Value.GetDouble(); break;
                default: throw new NotSupportedException($"group option {prop.Name}");
            }
        }
        return group;
    }

    /// <summary>PyTorch keyword arguments, with C#-only overrides (options PyTorch emulates by hand for sparse gradients).</summary>
    private readonly struct Kwargs(JsonElement kwargs, JsonElement? overrides)
    {
        private JsonElement? Find(string key) =>
            overrides is { } o && o.TryGetProperty(key, out var v) ? v : kwargs.TryGetProperty(key, out var w) ? w : null;

        public double D(string key, double fallback = double.NaN) => Find(key)?.GetDouble() ?? fallback;

        public bool B(string key) => Find(key)?.GetBoolean() ?? false;

        public (double, double)? Betas() => Find("betas") is { } b ? (b[0].GetDouble(), b[1].GetDouble()) : null;
    }
}
