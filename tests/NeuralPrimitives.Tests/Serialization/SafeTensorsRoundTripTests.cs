// Round trips and element conversions. Expected values come from the bit layouts (TestFiles.HalfValue /
// BFloat16Value decode sign, exponent and fraction by formula), from casts the C# language defines, or from
// bytes written out by hand; files in dtypes the library does not write (F16, BF16, I64, I32) are built by the
// tests' own writer (TestFiles).
using System.Buffers.Binary;
using System.Text;

namespace NeuralPrimitives.Tests.Serialization;

public class SafeTensorsRoundTripTests
{
    private static readonly float[] SpecialFloats =
        [0f, -0f, 1f, -2.5f, float.Epsilon, -float.Epsilon, 1e-40f, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0.1f, MathF.PI];

    private static readonly double[] SpecialDoubles =
        [0, -0.0, 1, -2.5, double.Epsilon, 1e-310, 1e-45, double.MaxValue, 3.4028235677973366e38, 1e39, double.PositiveInfinity, double.NaN, 0.1, Math.PI, 1 + 1e-12];

    private static OrderedDictionary<string, Tensor<T>> Dict<T>(params (string Name, T[] Values, nint[] Shape)[] items)
    {
        var d = new OrderedDictionary<string, Tensor<T>>();
        foreach (var (name, values, shape) in items) d.Add(name, Tensor.Create(values, shape));
        return d;
    }

    private static void AssertBitwise(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]) || (double.IsNaN(expected[i]) && double.IsNaN(actual[i])),
                $"[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }

    [Fact]
    public void F32AndF64RoundTripBitForBit()
    {
        var rng = new Rng(11);
        var floats = TestData.NormalF(rng, 37).Concat(SpecialFloats).ToArray();
        var doubles = TestData.Normal(rng, 29).Concat(SpecialDoubles).ToArray();
        var f = SafeTensors.Deserialize<float>(SafeTensors.Serialize(Dict(("a", floats, [(nint)floats.Length]))));
        AssertBitwise(Array.ConvertAll(floats, v => (double)v), Array.ConvertAll(f["a"].ToArray(), v => (double)v));
        var d = SafeTensors.Deserialize<double>(SafeTensors.Serialize(Dict(("b", doubles, [1, (nint)doubles.Length]))));
        AssertBitwise(doubles, d["b"].ToArray());
        Assert.Equal([1, (nint)doubles.Length], d["b"].Lengths.ToArray());
    }

    [Fact]
    public void ConversionsBetweenFloatAndDoubleFollowTheCasts()
    {
        var doubles = SpecialDoubles.Concat(TestData.Normal(new Rng(3), 2000)).ToArray();
        var floats = SpecialFloats.Concat(TestData.NormalF(new Rng(4), 2000)).ToArray();
        // double written as F32 rounds to nearest (the C# cast); read back as double it is that float, widened.
        var narrowed = SafeTensors.Deserialize<double>(SafeTensors.Serialize(Dict(("x", doubles, [(nint)doubles.Length])), dtype: DType.F32));
        AssertBitwise(Array.ConvertAll(doubles, v => (double)(float)v), narrowed["x"].ToArray());
        // An F64 file read as float narrows the same way.
        var asFloat = SafeTensors.Deserialize<float>(SafeTensors.Serialize(Dict(("x", doubles, [(nint)doubles.Length]))));
        AssertBitwise(Array.ConvertAll(doubles, v => (double)(float)v), Array.ConvertAll(asFloat["x"].ToArray(), v => (double)v));
        // float written as F64, and an F32 file read as double: exact widening.
        var widened = SafeTensors.Deserialize<float>(SafeTensors.Serialize(Dict(("y", floats, [(nint)floats.Length])), dtype: DType.F64));
        AssertBitwise(Array.ConvertAll(floats, v => (double)v), Array.ConvertAll(widened["y"].ToArray(), v => (double)v));
        var asDouble = SafeTensors.Deserialize<double>(SafeTensors.Serialize(Dict(("y", floats, [(nint)floats.Length]))));
        AssertBitwise(Array.ConvertAll(floats, v => (double)v), asDouble["y"].ToArray());
        using var file = SafeTensorsFile.Open(SafeTensors.Serialize(Dict(("y", floats, [(nint)floats.Length])), dtype: DType.F64));
        Assert.Equal(DType.F64, file["y"].DType);
    }

    [Fact]
    public void WriterProducesTheDocumentedBytes()
    {
        var tensors = Dict<float>(("b.weight", [1f, -2f], [2]), ("a", [0.5f], [1, 1]));
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        const string json = "{\"__metadata__\":{\"format\":\"pt\"}," +
                            "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}";
        int padded = (json.Length + 7) / 8 * 8;
        var expected = new byte[8 + padded + 12];
        BinaryPrimitives.WriteUInt64LittleEndian(expected, (ulong)padded);
        Encoding.ASCII.GetBytes(json.PadRight(padded)).CopyTo(expected, 8);
        TestFiles.F32(1f, -2f, 0.5f).CopyTo(expected, 8 + padded);
        Assert.Equal(expected, SafeTensors.Serialize(tensors, metadata));

        using var stream = new MemoryStream();
        SafeTensors.Save(tensors, stream, metadata);
        Assert.Equal(expected, stream.ToArray());
        using var temp = TestFiles.Temp();
        SafeTensors.Save(tensors, temp.Path, metadata);
        Assert.Equal(expected, File.ReadAllBytes(temp.Path));
    }

    [Fact]
    public void EntriesDescribeTheLayout()
    {
        var bytes = SafeTensors.Serialize(Dict<double>(("w", new double[6], [2, 3]), ("b", new double[2], [2])), new Dictionary<string, string> { ["k"] = "v" });
        using var file = SafeTensorsFile.Open(bytes);
        Assert.Equal(["w", "b"], file.Keys);
        Assert.Equal(2, file.Count);
        Assert.Equal(0, file.DataStart % 8);
        Assert.Equal(bytes.Length, file.DataStart + 64);
        Assert.Equal(bytes.Length, file.Length);
        var w = file.Entries[0];
        Assert.Equal(("w", DType.F64, 0L, 48L, 48L, 6L), (w.Name, w.DType, w.Begin, w.End, w.ByteLength, w.ElementCount));
        Assert.Equal([2, 3], w.Shape.ToArray());
        Assert.Equal([2, 3], file.GetShape("w"));
        Assert.Equal((48L, 64L), (file["b"].Begin, file["b"].End));
        Assert.Equal("v", file.Metadata["k"]);
        Assert.True(file.ContainsKey("b"));
        Assert.False(file.ContainsKey("c"));
        Assert.Contains("w: F64 [2, 3], bytes [0, 48)", w.ToString());
    }

    [Fact]
    public void EveryF16BitPatternWidensExactly()
    {
        var bits = Enumerable.Range(0, 65536).Select(b => (ushort)b).ToArray();
        var file = TestFiles.Build([new TestTensor("h", "F16", [256, 256], TestFiles.Bits16(bits))]);
        AssertPatterns(file, "h", bits, TestFiles.HalfValue);
        // A few by name.
        Assert.Equal(1.0, TestFiles.HalfValue(0x3C00));
        Assert.Equal(65504.0, TestFiles.HalfValue(0x7BFF));
        Assert.Equal(Math.Pow(2, -24), TestFiles.HalfValue(0x0001));
        Assert.Equal(0.333251953125, TestFiles.HalfValue(0x3555));
    }

    [Fact]
    public void EveryBF16BitPatternWidensExactly()
    {
        var bits = Enumerable.Range(0, 65536).Select(b => (ushort)b).ToArray();
        var file = TestFiles.Build([new TestTensor("b", "BF16", [65536], TestFiles.Bits16(bits))]);
        AssertPatterns(file, "b", bits, TestFiles.BFloat16Value);
        Assert.Equal(1.0, TestFiles.BFloat16Value(0x3F80));
        Assert.Equal(3.140625, TestFiles.BFloat16Value(0x4049)); // π in bfloat16
        Assert.Equal(-2.0, TestFiles.BFloat16Value(0xC000));
    }

    private static void AssertPatterns(byte[] file, string name, ushort[] bits, Func<ushort, double> value)
    {
        using var f = SafeTensorsFile.Open(file);
        var asDouble = f.Read<double>(name).ToArray();
        var asFloat = f.Read<float>(name).ToArray();
        for (int i = 0; i < bits.Length; i++)
        {
            double expected = value(bits[i]);
            if (double.IsNaN(expected))
            {
                Assert.True(double.IsNaN(asDouble[i]) && float.IsNaN(asFloat[i]), $"0x{bits[i]:X4} should be NaN");
                continue;
            }
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(asDouble[i]), $"0x{bits[i]:X4}: expected {expected:R}, got {asDouble[i]:R} (double)");
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(asFloat[i]), $"0x{bits[i]:X4}: expected {expected:R}, got {asFloat[i]:R} (float)");
        }
    }

    [Fact]
    public void IntegersReadAsIntegersAndConvertOnlyWhenExact()
    {
        var file = TestFiles.Build([
            new TestTensor("i64", "I64", [2, 3], TestFiles.I64(0, -1, 1L << 24, long.MinValue, (1L << 24) + 1, long.MaxValue)),
            new TestTensor("i32", "I32", [4], TestFiles.I32(int.MinValue, int.MaxValue, -7, 1 << 24)),
            new TestTensor("small", "I64", [3], TestFiles.I64(3, -4, 1L << 53)),
            new TestTensor("scalar", "I64", [], TestFiles.I64(12345)),
        ]);
        using var f = SafeTensorsFile.Open(file);
        Assert.Equal([0, -1, 1L << 24, long.MinValue, (1L << 24) + 1, long.MaxValue], f.ReadInt64("i64").ToArray());
        Assert.Equal([2, 3], f.ReadInt64("i64").Lengths.ToArray());
        Assert.Equal([int.MinValue, int.MaxValue, -7, 1L << 24], f.ReadInt64("i32").ToArray());
        Assert.Equal([int.MinValue, int.MaxValue, -7, 1 << 24], f.ReadInt32("i32").ToArray());

        // Exactly representable: 2^53 and -2^63 in double; 2^24, -2^31 in float.
        Assert.Equal([3.0, -4.0, 9007199254740992.0], f.Read<double>("small").ToArray());
        Assert.Equal([3f, -4f, 9007199254740992f], f.Read<float>("small").ToArray());
        Assert.Equal([(double)int.MinValue, int.MaxValue, -7, 1 << 24], f.Read<double>("i32").ToArray());
        Assert.Equal([12345.0], f.Read<double>("scalar").ToArray());
        Assert.Equal([1], f.Read<double>("scalar").Lengths.ToArray()); // no rank-0 Tensor<T>: a scalar reads as [1]
        Assert.Empty(f.GetShape("scalar"));

        // Not exact: refused, naming the tensor, the element and the value.
        var e = Assert.Throws<InvalidDataException>(() => f.Read<double>("i64"));
        Assert.Contains("tensor 'i64': element 5 is 9223372036854775807", e.Message);
        e = Assert.Throws<InvalidDataException>(() => f.Read<float>("i64"));
        Assert.Contains("element 4 is 16777217", e.Message);
        e = Assert.Throws<InvalidDataException>(() => f.Read<float>("i32"));
        Assert.Contains("element 1 is 2147483647", e.Message);
        e = Assert.Throws<InvalidDataException>(() => f.ReadInt32("small"));
        Assert.Contains("element 2 is 9007199254740992, which Int32 cannot represent exactly", e.Message);
        e = Assert.Throws<InvalidDataException>(() => f.ReadInt32("i64"));
        Assert.Contains("element 3 is -9223372036854775808", e.Message);
        var notInteger = TestFiles.Build([new TestTensor("w", "F32", [1], TestFiles.F32(1))]);
        using var g = SafeTensorsFile.Open(notInteger);
        var a = Assert.Throws<ArgumentException>(() => g.ReadInt64("w"));
        Assert.Equal("name", a.ParamName);
        Assert.Contains("F32", a.Message);
    }

    [Fact]
    public void ScalarsEmptyTensorsAndUnpaddedHeadersAreRead()
    {
        var file = TestFiles.Build([
            new TestTensor("s", "F64", [], TestFiles.F64(2.5)),
            new TestTensor("empty", "F32", [0, 3], []),
            new TestTensor("also_empty", "BF16", [4, 0], []),
            new TestTensor("x", "F32", [3], TestFiles.F32(1, 2, 3)),
        ], pad: false);
        using var f = SafeTensorsFile.Open(file);
        Assert.Equal([2.5], f.Read<double>("s").ToArray());
        Assert.Equal(0, f.Read<float>("empty").FlattenedLength);
        Assert.Equal([0, 3], f.GetShape("empty"));
        Assert.Equal([4, 0], f.GetShape("also_empty"));
        Assert.Equal([1.0, 2, 3], f.Read<double>("x").ToArray()); // data at an unaligned offset
        Assert.NotEqual(0, f.DataStart % 4);
    }

    [Fact]
    public void NamesAndMetadataWithEscapesAndUnicodeRoundTrip()
    {
        var names = new[] { "ünïcødé.weight", "quote\"back\\slash", "tab\tnew\nline", "", "日本語" };
        var tensors = new OrderedDictionary<string, Tensor<float>>();
        for (int i = 0; i < names.Length; i++) tensors.Add(names[i], Tensor.Create(new[] { (float)i }, [1]));
        var metadata = new Dictionary<string, string> { ["ключ"] = "значение \"quoted\"", ["format"] = "pt" };
        using var f = SafeTensorsFile.Open(SafeTensors.Serialize(tensors, metadata));
        Assert.Equal(names, f.Keys);
        for (int i = 0; i < names.Length; i++) Assert.Equal([(float)i], f.Read<float>(names[i]).ToArray());
        Assert.Equal(metadata, f.Metadata);

        // The same names written with \u escapes by another writer (Python's json.dumps escapes non-ASCII).
        var escaped = TestFiles.Build([new TestTensor("\\u00fcber", "F32", [1], TestFiles.F32(7))], "{\"k\\u00e9y\":\"v\\u00e4l\",\"k\\u00e9y\":\"last\"}");
        using var g = SafeTensorsFile.Open(escaped);
        Assert.Equal(["über"], g.Keys);
        Assert.Equal("last", g.Metadata["kéy"]); // a repeated metadata key keeps its last value, as Python's json does
    }

    [Fact]
    public void FileStreamAndBytesVariantsAgree()
    {
        var rng = new Rng(5);
        var tensors = Dict<double>(("a", TestData.Normal(rng, 12), [3, 4]), ("b", TestData.Normal(rng, 5), [5]));
        var bytes = SafeTensors.Serialize(tensors);
        using var temp = TestFiles.Temp();
        SafeTensors.Save(tensors, temp.Path);
        Assert.Equal(bytes, File.ReadAllBytes(temp.Path));
        var loaded = SafeTensors.Load<double>(temp.Path);
        Assert.Equal(["a", "b"], loaded.Keys);
        Assert.Equal(tensors["a"].ToArray(), loaded["a"].ToArray());
        Assert.Equal(tensors["b"].ToArray(), SafeTensors.Deserialize<double>(bytes)["b"].ToArray());

        // Saving over an existing file replaces it and leaves no temporary file behind.
        SafeTensors.Save(Dict<double>(("c", [1.0], [1])), temp.Path);
        Assert.Equal(["c"], SafeTensors.Load<double>(temp.Path).Keys);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(temp.Path)!, Path.GetFileName(temp.Path) + ".*.tmp"));
    }

    [Fact]
    public void StridedTensorsAreWrittenDense()
    {
        var full = Tensor.Create(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), [3, 4]);
        var slice = full.Slice(new System.Buffers.NRange(0, 3), new System.Buffers.NRange(1, 3)); // [3, 2], not dense
        Assert.False(slice.IsDense);
        var read = SafeTensors.Deserialize<float>(SafeTensors.Serialize(new OrderedDictionary<string, Tensor<float>> { ["s"] = slice }));
        Assert.Equal([1f, 2, 5, 6, 9, 10], read["s"].ToArray());
    }

    [Fact]
    public void ModuleSaveAndLoadInto()
    {
        var source = new Linear<float>(4, 3, rng: new Rng(1));
        var target = new Linear<float>(4, 3, rng: new Rng(2));
        using var temp = TestFiles.Temp();
        SafeTensors.Save(source, temp.Path, new Dictionary<string, string> { ["format"] = "pt" });
        var result = SafeTensors.LoadInto(target, temp.Path);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(source.Weight.Data, target.Weight.Data);
        Assert.Equal(source.Bias!.Data, target.Bias!.Data);
    }

    [Fact]
    public void LoadingStreamsFromTheFileInsteadOfCopyingIt()
    {
        var model = new Linear<float>(1000, 1000, rng: new Rng(8)); // 4 MB of weights
        var bytes = SafeTensors.Serialize(model.StateDict());
        var target = new Linear<float>(1000, 1000, rng: new Rng(9));
        using var file = SafeTensorsFile.Open(bytes);
        target.LoadStateDict(file); // warm-up
        long before = GC.GetAllocatedBytesForCurrentThread();
        target.LoadStateDict(file);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 * 1024, $"LoadStateDict(file) allocated {allocated} bytes for a {bytes.Length}-byte checkpoint; it should copy into the parameters directly");
        Assert.Equal(model.Weight.Data, target.Weight.Data);
    }

    [Fact]
    public void TiedWeightsAreWrittenUnderBothNamesAndLoadedOnce()
    {
        static (ModuleDict<double> Model, Embedding<double> Embed, Linear<double> Head) Tied(ulong seed)
        {
            var rng = new Rng(seed);
            var embed = new Embedding<double>(6, 4, rng: rng);
            var head = new Linear<double>(4, 6, rng: rng);
            head.Weight = embed.Weight;
            return (new ModuleDict<double> { ["embed"] = embed, ["head"] = head }, embed, head);
        }
        var (source, sourceEmbed, _) = Tied(1);
        var bytes = SafeTensors.Serialize(source.StateDict());
        using var file = SafeTensorsFile.Open(bytes);
        Assert.Equal(["embed.weight", "head.weight", "head.bias"], file.Keys);
        Assert.Equal(file.Read<double>("embed.weight").ToArray(), file.Read<double>("head.weight").ToArray());

        var (target, embed, head) = Tied(2);
        target.LoadStateDict(file);
        Assert.Same(embed.Weight, head.Weight);
        Assert.Equal(sourceEmbed.Weight.Data, embed.Weight.Data);

        // If the two copies differ (an edited file), the first name in the module's order fills the parameter.
        var edited = TestFiles.Build([
            new TestTensor("embed.weight", "F64", [6, 4], TestFiles.F64(Enumerable.Repeat(1.0, 24).ToArray())),
            new TestTensor("head.weight", "F64", [6, 4], TestFiles.F64(Enumerable.Repeat(2.0, 24).ToArray())),
            new TestTensor("head.bias", "F64", [6], TestFiles.F64(new double[6])),
        ]);
        using var e = SafeTensorsFile.Open(edited);
        target.LoadStateDict(e);
        Assert.All(head.Weight.Data, v => Assert.Equal(1.0, v));
    }

    [Fact]
    public void BadArgumentsAreRejectedByName()
    {
        var tensors = Dict<float>(("w", [1f], [1]));
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => SafeTensors.Serialize(tensors, dtype: DType.F16));
        Assert.Equal("dtype", e1.ParamName);
        Assert.Contains("F32 or F64", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(Dict<float>(("__metadata__", [1f], [1]))));
        Assert.Equal("tensors", e2.ParamName);
        Assert.Throws<ArgumentNullException>(() => SafeTensors.Serialize<float>(null!));
        var e3 = Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(tensors, new Dictionary<string, string> { ["k"] = null! }));
        Assert.Equal("metadata", e3.ParamName);
        Assert.Throws<NotSupportedException>(() => SafeTensors.Serialize(new Dictionary<string, Tensor<Half>> { ["h"] = Tensor.Create(new[] { (Half)1 }, [1]) }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(tensors, new MemoryStream([], writable: false)));

        using var file = SafeTensorsFile.Open(SafeTensors.Serialize(Dict<float>(("w", [1f, 2f], [2]))));
        var e4 = Assert.Throws<ArgumentException>(() => file.CopyTo<float>("w", new float[3]));
        Assert.Equal("destination", e4.ParamName);
        Assert.Contains("expected 2, got 3", e4.Message);
        var e5 = Assert.Throws<KeyNotFoundException>(() => file.Read<float>("missing"));
        Assert.Contains("'missing'", e5.Message);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Read<float>("w"));
        file.Dispose(); // twice is fine
        Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(Path.Combine(Path.GetTempPath(), "np-does-not-exist.safetensors")));
    }

    [Fact]
    public void LoadStateDictReportsEveryMissingUnexpectedAndMisshapenKey()
    {
        var model = new ModuleDict<float> { ["lin"] = new Linear<float>(3, 2, rng: new Rng(1)), ["out"] = new Linear<float>(2, 1, rng: new Rng(2)) };
        var before = model.StateDict().Values.Select(t => t.ToArray()).ToArray();
        var file = TestFiles.Build([
            new TestTensor("lin.weight", "F32", [3, 2], TestFiles.F32(new float[6])),   // transposed: [2, 3] expected
            new TestTensor("lin.bias", "F32", [2], TestFiles.F32(1, 2)),
            new TestTensor("out.weight", "F16", [1, 3], TestFiles.Bits16(0, 0, 0)),     // wrong size: [1, 2] expected
            new TestTensor("extra.weight", "F32", [1], TestFiles.F32(0)),
            new TestTensor("extra.bias", "F32", [1], TestFiles.F32(0)),
        ]);
        using var f = SafeTensorsFile.Open(file);
        var e = Assert.Throws<ArgumentException>(() => model.LoadStateDict(f));
        Assert.Contains("'lin.weight': expected [2, 3], got [3, 2]", e.Message);
        Assert.Contains("'out.weight': expected [1, 2], got [1, 3]", e.Message);
        Assert.Contains("missing keys: out.bias", e.Message);
        Assert.Contains("unexpected keys: extra.weight, extra.bias", e.Message);
        Assert.Equal(before, model.StateDict().Values.Select(t => t.ToArray()).ToArray()); // nothing written

        // Not strict: shapes must still agree; missing and unexpected keys are returned.
        var partial = TestFiles.Build([
            new TestTensor("lin.bias", "BF16", [2], TestFiles.Bits16(0x3F80, 0xC000)),
            new TestTensor("extra", "F32", [1], TestFiles.F32(0)),
        ]);
        using var p = SafeTensorsFile.Open(partial);
        var result = model.LoadStateDict(p, strict: false);
        Assert.Equal(["lin.weight", "out.weight", "out.bias"], result.MissingKeys);
        Assert.Equal(["extra"], result.UnexpectedKeys);
        Assert.Equal([1f, -2f], ((Linear<float>)model["lin"]).Bias!.Data);
        Assert.Throws<ArgumentException>(() => model.LoadStateDict(f, strict: false)); // the shape mismatches remain errors
    }
}
