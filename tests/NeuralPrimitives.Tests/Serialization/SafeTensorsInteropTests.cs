// PyTorch interop, both ways (tests/reference/fixtures_serialization.py):
//  1. Files PyTorch wrote (Fixtures/torch_written/*.safetensors: a language model Embedding → 2-layer LSTM → Linear,
//     a 2-layer bidirectional batch-first GRU, a Linear; F64, F32, F16, BF16) load into the library's modules under
//     PyTorch's own keys, with no mapping table, and reproduce PyTorch's outputs (serialization_*.json).
//       double module, F64 / F16 / BF16 file   1e-12: the file widens exactly, and PyTorch computed these outputs in
//                                              float64 with the same (rounded) weights
//       double module, F32 file                2e-5:  PyTorch computed in float32
//       float module, any file                 2e-5:  float32 arithmetic (and an F64 file is rounded to float)
//  2. The library writes its own state_dicts (its seeded initialisation) and its outputs on a fixed input to
//     Fixtures/library_written/; those files are committed, this test checks that it still writes the same bytes,
//     and the reference script checks that PyTorch, loading them, reproduces the library's outputs.

namespace NeuralPrimitives.Tests.Serialization;

/// <summary>PyTorch's <c>LanguageModel</c> of the reference script: attributes embed, lstm, head.</summary>
internal sealed class TinyLanguageModel<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public const int Vocabulary = 11, EmbeddingSize = 5, HiddenSize = 7;

    public TinyLanguageModel(Rng rng)
    {
        Embed = RegisterModule("embed", new Embedding<T>(Vocabulary, EmbeddingSize, rng: rng));
        Lstm = RegisterModule("lstm", new Lstm<T>(EmbeddingSize, HiddenSize, numLayers: 2, rng: rng));
        Head = RegisterModule("head", new Linear<T>(HiddenSize, Vocabulary, rng: rng));
    }

    public Embedding<T> Embed { get; }
    public Lstm<T> Lstm { get; }
    public Linear<T> Head { get; }

    public Dictionary<string, Tensor<T>> Infer(Tensor<int> tokens)
    {
        var (output, hN, cN) = Lstm.Infer(Embed.Infer(tokens));
        return new() { ["logits"] = Head.Infer(output), ["h_n"] = hN, ["c_n"] = cN };
    }
}

public class SafeTensorsInteropTests
{
    private const int GruInput = 4, GruHidden = 3, LinearIn = 6, LinearOut = 4;

    private static string FixturePath(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    /// <summary>A model of the reference script's kind, and how to run it on that kind's input.</summary>
    private sealed record Model<T>(Module<T> Module, Func<Tensor<T>, Dictionary<string, Tensor<T>>> Run) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

    private static Model<T> Make<T>(string kind, Rng rng) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case "lm":
            {
                var lm = new TinyLanguageModel<T>(rng);
                return new(lm, x => lm.Infer(Tensor.Create(Array.ConvertAll(x.ToArray(), v => int.CreateChecked(v)), x.Lengths)));
            }
            case "gru":
            {
                var gru = new Gru<T>(GruInput, GruHidden, numLayers: 2, batchFirst: true, bidirectional: true, rng: rng);
                return new(gru, x => { var (y, h) = gru.Infer(x); return new() { ["output"] = y, ["h_n"] = h }; });
            }
            default:
            {
                var linear = new Linear<T>(LinearIn, LinearOut, rng: rng);
                return new(linear, x => new() { ["output"] = linear.Infer(x) });
            }
        }
    }

    // ---- PyTorch → library ---------------------------------------------------------------------------

    public static TheoryData<string, string, string, double> TorchWritten => new()
    {
        // kind, file dtype, module element type, tolerance
        { "lm", "f64", "double", 1e-12 }, { "lm", "f16", "double", 1e-12 }, { "lm", "bf16", "double", 1e-12 }, { "lm", "f32", "double", 2e-5 },
        { "lm", "f32", "float", 2e-5 }, { "lm", "f64", "float", 2e-5 }, { "lm", "f16", "float", 2e-5 }, { "lm", "bf16", "float", 2e-5 },
        { "gru", "f64", "double", 1e-12 }, { "gru", "f32", "float", 2e-5 }, { "gru", "f64", "float", 2e-5 },
        { "linear", "f64", "double", 1e-12 }, { "linear", "f16", "double", 1e-12 }, { "linear", "bf16", "double", 1e-12 },
        { "linear", "f32", "float", 2e-5 }, { "linear", "bf16", "float", 2e-5 },
    };

    [Theory]
    [MemberData(nameof(TorchWritten))]
    public void PyTorchWrittenFileReproducesPyTorch(string kind, string tag, string type, double tolerance)
    {
        if (type == "double") CheckTorchWritten<double>(kind, tag, tolerance);
        else CheckTorchWritten<float>(kind, tag, tolerance);
    }

    private static void CheckTorchWritten<T>(string kind, string tag, double tolerance) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var fixture = Fixture.Load("serialization_" + kind);
        var model = Make<T>(kind, new Rng(12345)); // initial weights are overwritten by the file
        using var file = SafeTensorsFile.Open(FixturePath("torch_written", $"{kind}_{tag}.safetensors"));
        Assert.Equal(model.Module.StateDict().Keys, file.Keys); // PyTorch's keys and order, no mapping table
        Assert.Equal("pt", file.Metadata["format"]);
        model.Module.LoadStateDict(file);

        var outputs = model.Run(fixture.Tensor<T>("input"));
        foreach (var (name, actual) in outputs)
        {
            Assert.Equal(fixture.Shape($"{name}.{tag}"), actual.Shape());
            TestData.AssertClose<double>(fixture.Data($"{name}.{tag}"), Array.ConvertAll(actual.ToArray(), v => double.CreateTruncating(v)), tolerance, what: $"{kind} {tag} {typeof(T).Name} {name}");
        }
    }

    [Fact]
    public void PyTorchIntegerTensorsRead()
    {
        var fixture = Fixture.Load("serialization_ints");
        using var file = SafeTensorsFile.Open(FixturePath("torch_written", "ints.safetensors"));
        Assert.Equal(fixture.Ints("tokens"), file.ReadInt32("tokens").ToArray());
        Assert.Equal(fixture.Ints("tokens"), file.ReadInt32("tokens_i32").ToArray());
        Assert.Equal(DType.I32, file["tokens_i32"].DType);
        Assert.Equal([12345L], file.ReadInt64("step").ToArray());
        Assert.Empty(file.GetShape("step"));
        Assert.Equal([16777216f, -16777216f, 3f * (1L << 40), 0f], file.Read<float>("exact_f32").ToArray());
        Assert.Equal([16777217.0, 9007199254740992.0], file.Read<double>("exact_f64_only").ToArray());
        Assert.Throws<InvalidDataException>(() => file.Read<float>("exact_f64_only"));
        Assert.Throws<InvalidDataException>(() => file.Read<double>("inexact"));
        Assert.Equal([(1L << 53) + 1, (1L << 62) + 1], file.ReadInt64("inexact").ToArray());
        Assert.Equal([int.MinValue, int.MaxValue, -1, 7], file.ReadInt32("i32_edges").ToArray());

        // Token ids from the file drive an embedding directly.
        var embedding = new Embedding<float>(TinyLanguageModel<float>.Vocabulary, 3, rng: new Rng(1));
        Assert.Equal([6, 2, 3], embedding.Infer(file.ReadInt32("tokens")).Shape());
    }

    // ---- library → PyTorch ---------------------------------------------------------------------------

    /// <summary>The library-written cases: name, kind, file dtype.</summary>
    private static readonly (string Name, string Kind, DType DType)[] LibraryCases =
    [
        ("lm_f64", "lm", DType.F64), ("lm_f32", "lm", DType.F32),
        ("gru_f64", "gru", DType.F64), ("gru_f32", "gru", DType.F32),
        ("linear_f64", "linear", DType.F64), ("linear_f32", "linear", DType.F32),
    ];

    private static Tensor<double> LibraryInput(string kind, Rng rng) => kind switch
    {
        "lm" => Tensor.Create(Enumerable.Range(0, 12).Select(_ => (double)rng.NextInt(TinyLanguageModel<double>.Vocabulary)).ToArray(), [6, 2]),
        "gru" => TestData.Tensor<double>(rng, 2, 5, GruInput),
        _ => TestData.Tensor<double>(rng, 3, LinearIn),
    };

    /// <summary>The state file and the input/output file the library writes for one case.</summary>
    private static (byte[] State, OrderedDictionary<string, Tensor<double>> Io) LibraryWritten(string kind, DType dtype)
    {
        var model = Make<double>(kind, new Rng(2026)); // the library's own seeded initialisation
        var state = SafeTensors.Serialize(model.Module.StateDict(), new Dictionary<string, string> { ["format"] = "pt", ["writer"] = "NeuralPrimitives" }, dtype);
        var input = LibraryInput(kind, new Rng(2027));
        var io = new OrderedDictionary<string, Tensor<double>>();
        if (dtype == DType.F64)
        {
            io.Add("input", input);
            foreach (var (name, t) in model.Run(input)) io.Add(name, t);
        }
        else
        {
            // A float module loaded from the F32 file, on the float-rounded input: the library's float32 outputs.
            var single = Make<float>(kind, new Rng(1));
            using (var file = SafeTensorsFile.Open(state)) single.Module.LoadStateDict(file);
            var inputF = Tensor.Create(Array.ConvertAll(input.ToArray(), v => (float)v), input.Lengths);
            io.Add("input", Tensor.Create(Array.ConvertAll(inputF.ToArray(), v => (double)v), input.Lengths));
            foreach (var (name, t) in single.Run(inputF)) io.Add(name, Tensor.Create(Array.ConvertAll(t.ToArray(), v => (double)v), t.Lengths));
        }
        return (state, io);
    }

    [Fact]
    public void LibraryWrittenFilesAreUnchanged()
    {
        bool write = Environment.GetEnvironmentVariable("NP_WRITE_LIBRARY_FIXTURES") == "1";
        string committed = FixturePath("library_written");
        string? sourceDirectory = write ? Path.Combine(RepositoryRoot(), "tests", "NeuralPrimitives.Tests", "Fixtures", "library_written") : null;
        foreach (var (name, kind, dtype) in LibraryCases)
        {
            var (state, io) = LibraryWritten(kind, dtype);
            var ioBytes = SafeTensors.Serialize(io, dtype: DType.F64);
            if (sourceDirectory is not null)
            {
                Directory.CreateDirectory(sourceDirectory);
                File.WriteAllBytes(Path.Combine(sourceDirectory, name + ".safetensors"), state);
                File.WriteAllBytes(Path.Combine(sourceDirectory, name + ".io.safetensors"), ioBytes);
                continue;
            }
            // The state_dict file: byte for byte (a change of the format or of the initialisation shows up here).
            var expected = File.ReadAllBytes(Path.Combine(committed, name + ".safetensors"));
            Assert.True(expected.AsSpan().SequenceEqual(state),
                $"{name}.safetensors differs from the committed file. If the change is intended, rerun with NP_WRITE_LIBRARY_FIXTURES=1 and then tests/reference/fixtures_serialization.py (which checks PyTorch still agrees).");
            // The outputs: numerically (the last bits of a GEMM may differ between CPUs).
            using var committedIo = SafeTensorsFile.Open(Path.Combine(committed, name + ".io.safetensors"));
            Assert.Equal(io.Keys, committedIo.Keys);
            double tolerance = dtype == DType.F64 ? 1e-12 : 1e-5;
            foreach (var (key, tensor) in io)
                TestData.AssertClose<double>(committedIo.Read<double>(key).ToArray(), tensor.ToArray(), tolerance, what: $"{name}.io {key}");
        }
    }

    [Fact]
    public void LibraryStateDictKeysArePyTorchs()
    {
        // The same keys, in the same order, as the state_dicts PyTorch wrote.
        foreach (var kind in new[] { "lm", "gru", "linear" })
        {
            using var torch = SafeTensorsFile.Open(FixturePath("torch_written", $"{kind}_f64.safetensors"));
            using var ours = SafeTensorsFile.Open(FixturePath("library_written", $"{kind}_f64.safetensors"));
            Assert.Equal(torch.Keys, ours.Keys);
            foreach (var entry in torch.Entries) Assert.Equal(entry.Shape.ToArray(), ours.GetShape(entry.Name));
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NeuralPrimitives.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"NeuralPrimitives.sln not found above {AppContext.BaseDirectory}.");
    }
}
