// Loads the PyTorch fixtures written by tests/reference/*.py (see tests/reference/common.py for the format).
using System.Text.Json;

namespace NeuralPrimitives.Tests.Support;

public sealed class Fixture
{
    private readonly Dictionary<string, (int[] Shape, double[] Data)> _tensors = new();

    private Fixture(JsonElement meta) => Meta = meta;

    /// <summary>The fixture's free-form settings.</summary>
    public JsonElement Meta { get; }

    public static Fixture Load(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".json");
        if (!File.Exists(path)) throw new FileNotFoundException($"Fixture '{name}' not found at {path}; regenerate with tests/reference/make_fixtures.py.", path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var f = new Fixture(doc.RootElement.GetProperty("meta").Clone());
        foreach (var t in doc.RootElement.GetProperty("tensors").EnumerateObject())
        {
            var shape = t.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var data = t.Value.GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            f._tensors[t.Name] = (shape, data);
        }
        return f;
    }

    public bool Has(string key) => _tensors.ContainsKey(key);

    public int[] Shape(string key) => Get(key).Shape;

    public double[] Data(string key) => Get(key).Data;

    public float[] DataF(string key) => Array.ConvertAll(Get(key).Data, v => (float)v);

    public int[] Ints(string key) => Array.ConvertAll(Get(key).Data, v => checked((int)v));

    public Tensor<T> Tensor<T>(string key) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (shape, data) = Get(key);
        return System.Numerics.Tensors.Tensor.Create(Array.ConvertAll(data, T.CreateTruncating), Array.ConvertAll(shape, d => (nint)d));
    }

    private (int[] Shape, double[] Data) Get(string key) =>
        _tensors.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"Fixture has no tensor '{key}'. Keys: {string.Join(", ", _tensors.Keys)}.");
}
