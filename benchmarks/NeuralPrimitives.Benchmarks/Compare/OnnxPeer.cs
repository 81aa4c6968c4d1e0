// ONNX Runtime peer of the comparison runner: `compare --peer onnx [names...]`.
//
// For each name, loads models/<name>.onnx from the output directory (exported by
// tests/reference/export_onnx.py into benchmarks/models/, copied by the csproj), fills every
// input with seeded random values of the type and shape in the model's metadata, and times
// session.Run with the CompareRunner's median timer. Session: 2 intra-op threads, 1 inter-op
// thread, sequential execution, GraphOptimizationLevel.ORT_ENABLE_ALL (ORT's spin-waiting left
// at its default). Inputs and outputs are OrtValues allocated once before timing, so a timed run
// is the graph execution only. Names without a model file are skipped with a note on stderr.
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>Times ONNX models with ONNX Runtime under the same names and timer as our cases.</summary>
public static class OnnxPeer
{
    /// <summary>The directory holding the <c>.onnx</c> files (next to the executable).</summary>
    public static string ModelDirectory => Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary>Names of the models present, sorted.</summary>
    public static IReadOnlyList<string> AvailableModels() =>
        Directory.Exists(ModelDirectory)
            ? Directory.GetFiles(ModelDirectory, "*.onnx").Select(p => Path.GetFileNameWithoutExtension(p)!).Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>Runs the named models (all present when none are named) and returns name → median ms.</summary>
    public static Dictionary<string, double> Run(IReadOnlyCollection<string> names, TextWriter log)
    {
        var results = new Dictionary<string, double>();
        foreach (var name in names.Count == 0 ? AvailableModels() : names)
        {
            var path = Path.Combine(ModelDirectory, name + ".onnx");
            if (!File.Exists(path))
            {
                log.WriteLine($"{name}: no ONNX model at {path}, skipped");
                continue;
            }
            using var bench = new OnnxBench(path);
            results[name] = Math.Round(CompareRunner.MedianMilliseconds(bench.Run), 4);
            log.WriteLine($"{name}: {results[name]} ms (onnxruntime, {bench.Describe()})");
        }
        return results;
    }

    /// <summary>Session options used for every model: 2 intra-op threads, 1 inter-op, full graph optimisation.</summary>
    public static SessionOptions CreateOptions() => new()
    {
        IntraOpNumThreads = 2,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    };

    /// <summary>One loaded model with its preallocated inputs and outputs.</summary>
    private sealed class OnnxBench : IDisposable
    {
        private readonly SessionOptions _options;
        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions = new();
        private readonly string[] _inputNames, _outputNames;
        private readonly OrtValue[] _inputs, _outputs;

        public OnnxBench(string path)
        {
            _options = CreateOptions();
            _session = new InferenceSession(path, _options);
            var rng = new Random(12345);
            _inputNames = _session.InputMetadata.Keys.ToArray();
            _inputs = _inputNames.Select(n => RandomInput(n, _session.InputMetadata[n], rng)).ToArray();
            _outputNames = _session.OutputMetadata.Keys.ToArray();
            // Output shapes may be symbolic in the metadata: run once to learn them, then preallocate.
            using (var first = _session.Run(_runOptions, _inputNames, _inputs, _outputNames))
                _outputs = first.Select(v =>
                {
                    var info = v.GetTensorTypeAndShape();
                    return OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, info.ElementDataType, info.Shape);
                }).ToArray();
        }

        public void Run() => _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);

        public string Describe() => string.Join(", ", _inputNames.Select((n, i) =>
        {
            var info = _inputs[i].GetTensorTypeAndShape();
            return $"{n} {info.ElementDataType} [{string.Join(", ", info.Shape)}]";
        }));

        private static OrtValue RandomInput(string name, NodeMetadata meta, Random rng)
        {
            if (!meta.IsTensor) throw new NotSupportedException($"Input {name} is not a tensor.");
            var dims = meta.Dimensions;
            if (dims.Any(d => d < 0))
                throw new NotSupportedException($"Input {name} has a symbolic dimension [{string.Join(", ", dims)}]; export models with fixed shapes.");
            long[] shape = Array.ConvertAll(dims, d => (long)d);
            var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, meta.ElementDataType, shape);
            switch (meta.ElementDataType)
            {
                case TensorElementType.Float:
                    foreach (ref var v in value.GetTensorMutableDataAsSpan<float>()) v = (float)(2 * rng.NextDouble() - 1);
                    break;
                case TensorElementType.Double:
                    foreach (ref var v in value.GetTensorMutableDataAsSpan<double>()) v = 2 * rng.NextDouble() - 1;
                    break;
                case TensorElementType.Int64: // indices: 0 is valid for any table
                    value.GetTensorMutableDataAsSpan<long>().Clear();
                    break;
                case TensorElementType.Int32:
                    value.GetTensorMutableDataAsSpan<int>().Clear();
                    break;
                default:
                    value.Dispose();
                    throw new NotSupportedException($"Input {name} has element type {meta.ElementDataType}; the peer fills float, double, int64 and int32.");
            }
            return value;
        }

        public void Dispose()
        {
            foreach (var v in _inputs) v.Dispose();
            foreach (var v in _outputs) v.Dispose();
            _runOptions.Dispose();
            _session.Dispose();
            _options.Dispose();
        }
    }
}
