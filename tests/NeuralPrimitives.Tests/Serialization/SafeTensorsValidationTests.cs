// Malformed files: each is rejected with an InvalidDataException whose message names the tensor and the
// problem, having allocated no more than the file's size plus a small constant (measured with
// GC.GetAllocatedBytesForCurrentThread around the open, from a file on disk and from memory). An FsCheck
// property corrupts valid files at random and checks that nothing but InvalidDataException ever escapes.
using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace NeuralPrimitives.Tests.Serialization;

public class SafeTensorsValidationTests
{
    /// <summary>What opening may allocate beyond the file's size: the file and mapping objects, the exception and its message.</summary>
    internal const long AllocationSlack = 8 * 1024;

    private static string E(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    private static byte[] Header(string json, int dataBytes = 0) => TestFiles.Build(json, new byte[dataBytes]);

    private static byte[] WithLength(ulong declared, int totalBytes)
    {
        var file = new byte[totalBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declared);
        return file;
    }

    /// <summary>Each malformed file and fragments its message must contain.</summary>
    public static readonly Dictionary<string, (Func<byte[]> Bytes, string[] Message)> Cases = new()
    {
        ["empty file"] = (() => [], ["the file has 0 bytes"]),
        ["shorter than the length prefix"] = (() => [1, 2, 3], ["the file has 3 bytes"]),
        ["header length 2^64-1"] = (() => WithLength(ulong.MaxValue, 100), ["header length is 18446744073709551615 bytes, more than the 100 MB limit"]),
        ["header length above 100 MB"] = (() => WithLength(100_000_001, 100), ["more than the 100 MB limit"]),
        ["header length past the end"] = (() => WithLength(50_000_000, 100), ["header length is 50000000 bytes, past the end of the file (100 bytes"]),
        ["header length one past the end"] = (() => TestFiles.Build("{}", [], declaredLength: 3), ["past the end of the file"]),
        ["header not an object"] = (() => Header("[1,2]"), ["must be a JSON object starting with '{'"]),
        ["empty header"] = (() => Header(""), ["an empty header"]),
        ["invalid UTF-8"] = (() => TestFiles.Build([(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'], [], 8), ["not valid UTF-8"]),
        ["invalid JSON"] = (() => Header("{\"a\":{\"dtype\":"), ["not valid JSON"]),
        ["JSON with a comment"] = (() => Header("{/* hi */}"), ["not valid JSON"]),
        ["trailing garbage"] = (() => Header("{} x"), ["byte 0x78 at position 3 after its closing '}'"]),
        ["two root objects"] = (() => Header("{}{}"), ["after its closing '}'"]),
        ["entry not an object"] = (() => Header("{\"w\":5}"), ["tensor 'w': its entry must be an object", "got a JSON number"]),
        ["missing fields"] = (() => Header("{\"w\":{\"dtype\":\"F32\"}}"), ["tensor 'w': its entry lacks shape and data_offsets"]),
        ["unknown field"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"stride\":[1]}}", 4), ["tensor 'w': unknown field \"stride\""]),
        ["repeated field"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), ["tensor 'w': the field \"dtype\" appears twice"]),
        ["unknown dtype"] = (() => Header("{" + E("w", "F33", "[1]", 0, 4) + "}", 4), ["tensor 'w': unknown dtype \"F33\"", "F64, F32, F16, BF16, I64, I32"]),
        ["unsupported dtype BOOL"] = (() => Header("{" + E("mask", "BOOL", "[4]", 0, 4) + "}", 4), ["tensor 'mask': unknown dtype \"BOOL\""]),
        ["dtype not a string"] = (() => Header("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), ["tensor 'w': dtype must be a string, got a JSON number"]),
        ["shape not an array"] = (() => Header("{" + E("w", "F32", "4", 0, 16) + "}", 16), ["tensor 'w': shape must be an array of integers, got a JSON number"]),
        ["negative dimension"] = (() => Header("{" + E("w", "F32", "[2,-1]", 0, 8) + "}", 8), ["tensor 'w': shape dimension 1 is -1"]),
        ["fractional dimension"] = (() => Header("{" + E("w", "F32", "[1.5]", 0, 4) + "}", 4), ["tensor 'w': shape dimension 0 must be an integer, got 1.5"]),
        ["dimension above int.MaxValue"] = (() => Header("{" + E("w", "F32", "[4294967296]", 0, 4) + "}", 4), ["shape dimension 0 is 4294967296; expected an integer in [0, 2147483647]"]),
        ["nested shape"] = (() => Header("{" + E("w", "F32", "[[1]]", 0, 4) + "}", 4), ["shape dimension 0 must be an integer, got a JSON array"]),
        ["[1000000, 1000000] in a small file"] = (() => Header("{" + E("big", "F32", "[1000000,1000000]", 0, 16) + "}", 16),
            ["tensor 'big': data_offsets [0, 16] hold 16 bytes, but dtype F32 × shape [1000000,1000000] needs 4000000000000 bytes"]),
        ["[1000000, 1000000] with matching offsets"] = (() => Header("{" + E("big", "F32", "[1000000,1000000]", 0, 4_000_000_000_000) + "}", 16),
            ["tensor 'big': data_offsets [0, 4000000000000] lie outside the data buffer, which has 16 bytes"]),
        ["shape product overflows"] = (() => Header("{" + E("w", "F64", "[2147483647,2147483647,2147483647]", 0, 8) + "}", 8), ["needs more than 2^63 bytes"]),
        ["offsets not matching dtype × shape"] = (() => Header("{" + E("w", "F16", "[3]", 0, 8) + "}", 8), ["tensor 'w': data_offsets [0, 8] hold 8 bytes, but dtype F16 × shape [3] needs 6 bytes"]),
        ["offsets negative"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4), ["tensor 'w': data_offsets[0] must be a non-negative integer, got -4"]),
        ["offsets too many"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4), ["tensor 'w': data_offsets must have exactly two elements [begin, end], got more"]),
        ["offsets too few"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4), ["got 1"]),
        ["offsets fractional"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4), ["data_offsets[1] must be a non-negative integer, got 4.0"]),
        ["offsets beyond 2^63"] = (() => Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 4), ["data_offsets[1] must be a non-negative integer"]),
        ["offsets reversed"] = (() => Header("{" + E("w", "F32", "[1]", 8, 4) + "}", 8), ["tensor 'w': data_offsets [8, 4] end before they begin"]),
        ["offsets outside the data"] = (() => Header("{" + E("w", "F32", "[2]", 0, 8) + "}", 4), ["tensor 'w': data_offsets [0, 8] lie outside the data buffer, which has 4 bytes"]),
        ["overlapping tensors"] = (() => Header("{" + E("a", "F32", "[2]", 0, 8) + "," + E("b", "F32", "[2]", 4, 12) + "}", 12),
            ["tensor 'b': data_offsets [4, 12] overlap those of tensor 'a' [0, 8]"]),
        ["one-byte overlap"] = (() => Header("{" + E("a", "F16", "[1]", 0, 2) + "," + E("b", "F16", "[1]", 1, 3) + "}", 3), ["tensor 'b': data_offsets [1, 3] overlap those of tensor 'a' [0, 2]"]),
        ["the same bytes twice"] = (() => Header("{" + E("a", "F32", "[2]", 0, 8) + "," + E("b", "F32", "[2]", 0, 8) + "}", 8), ["overlap those of tensor"]),
        ["gap between tensors"] = (() => Header("{" + E("a", "F32", "[1]", 0, 4) + "," + E("b", "F32", "[1]", 8, 12) + "}", 12),
            ["tensor 'b': data_offsets [8, 12] leave a 4-byte gap at 4"]),
        ["one-byte gap"] = (() => Header("{" + E("a", "F16", "[1]", 0, 2) + "," + E("b", "F16", "[1]", 3, 5) + "}", 5), ["tensor 'b': data_offsets [3, 5] leave a 1-byte gap at 2"]),
        ["data not starting at 0"] = (() => Header("{" + E("a", "F32", "[1]", 4, 8) + "}", 8), ["tensor 'a': data_offsets [4, 8] leave a 4-byte gap at 0"]),
        ["trailing bytes after the last tensor"] = (() => Header("{" + E("a", "F32", "[1]", 0, 4) + "}", 10), ["the tensors end at byte 4 of the data buffer, but it has 10 bytes (6 bytes after the last tensor)"]),
        ["data but no tensors"] = (() => Header("{}", 3), ["the tensors end at byte 0 of the data buffer, but it has 3 bytes"]),
        ["duplicate names"] = (() => Header("{" + E("w", "F32", "[1]", 0, 4) + "," + E("w", "F32", "[1]", 4, 8) + "}", 8), ["tensor 'w' appears twice in the header"]),
        ["duplicate names through an escape"] = (() => Header("{" + E("w", "F32", "[1]", 0, 4) + "," + E("\\u0077", "F32", "[1]", 4, 8) + "}", 8), ["tensor 'w' appears twice"]),
        ["invalid escape in a name"] = (() => Header("{" + E("\\ud800", "F32", "[1]", 0, 4) + "}", 4), ["invalid escape in the string at position 1"]),
        ["metadata twice"] = (() => Header("{\"__metadata__\":{},\"__metadata__\":{}}"), ["\"__metadata__\" appears twice"]),
        ["metadata not an object"] = (() => Header("{\"__metadata__\":[1]}"), ["\"__metadata__\" must be an object of strings, got a JSON array"]),
        ["metadata value not a string"] = (() => Header("{\"__metadata__\":{\"epoch\":3}}"), ["the value of \"epoch\" is a JSON number"]),
        ["metadata nested deeply"] = (() => Header("{\"__metadata__\":{\"a\":{\"b\":{\"c\":{\"d\":1}}}}}"), ["the value of \"a\" is a JSON object"]),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MalformedFileIsRejectedWithinTheAllocationBound(string name)
    {
        var bytes = Cases[name].Bytes();
        // From memory.
        var (fromMemory, allocated) = OpenExpectingFailure(() => SafeTensorsFile.Open(bytes));
        foreach (var fragment in Cases[name].Message) Assert.Contains(fragment, fromMemory.Message);
        Assert.StartsWith("Invalid safetensors file (in memory): ", fromMemory.Message);
        Assert.True(allocated <= bytes.Length + AllocationSlack, $"opening a {bytes.Length}-byte buffer allocated {allocated} bytes before rejecting it");

        // From a file on disk (memory-mapped).
        using var temp = TestFiles.Temp(bytes);
        var (fromFile, allocatedFile) = OpenExpectingFailure(() => SafeTensorsFile.Open(temp.Path));
        Assert.Equal(fromMemory.Message.Replace("(in memory)", $"'{temp.Path}'"), fromFile.Message);
        Assert.True(allocatedFile <= bytes.Length + AllocationSlack, $"opening a {bytes.Length}-byte file allocated {allocatedFile} bytes before rejecting it");
    }

    /// <summary>Opens twice (the first warms up the code paths), measuring the second; returns its exception and allocation.</summary>
    internal static (InvalidDataException Error, long Allocated) OpenExpectingFailure(Func<SafeTensorsFile> open)
    {
        Assert.Throws<InvalidDataException>(() => open().Dispose());
        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException? error = null;
        try { open().Dispose(); }
        catch (InvalidDataException e) { error = e; }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.NotNull(error);
        return (error!, allocated);
    }

    [Fact]
    public void AHugeHeaderOfManySmallEntriesIsRejectedWithinItsSize()
    {
        // 40,000 valid entries, then one that is wrong: pass 1 keeps 24 bytes per entry (an entry takes ≥ 50
        // bytes of header), so the rejection allocates less than the header.
        var json = new StringBuilder("{");
        for (int i = 0; i < 40_000; i++) json.Append(E($"t{i}", "F32", "[0]", 0, 0)).Append(',');
        json.Append(E("last", "F99", "[0]", 0, 0)).Append('}');
        var bytes = Header(json.ToString());
        var (error, allocated) = OpenExpectingFailure(() => SafeTensorsFile.Open(bytes));
        Assert.Contains("tensor 'last': unknown dtype \"F99\"", error.Message);
        Assert.True(allocated <= bytes.Length + AllocationSlack, $"allocated {allocated} bytes for a {bytes.Length}-byte file");

        // The same file with a duplicate name at the very end (found only after every entry was read).
        var dup = Header(json.ToString().Replace(E("last", "F99", "[0]", 0, 0), E("t7", "F32", "[0]", 0, 0)));
        var (dupError, dupAllocated) = OpenExpectingFailure(() => SafeTensorsFile.Open(dup));
        Assert.Contains("tensor 't7' appears twice", dupError.Message);
        Assert.True(dupAllocated <= dup.Length + AllocationSlack, $"allocated {dupAllocated} bytes for a {dup.Length}-byte file");
    }

    [Fact]
    public void ValidEdgeCasesAreAccepted()
    {
        // Whitespace inside and after the JSON, fields in any order, an empty file body, zero-length tensors sharing an offset.
        var header = "{ \"b\" : { \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 8 ], \"dtype\" : \"F32\" } ,\n" +
                     E("z1", "F64", "[0]", 8, 8) + "," + E("z2", "I32", "[3,0]", 8, 8) + "}  \n\t";
        using var f = SafeTensorsFile.Open(TestFiles.Build(header, TestFiles.F32(1, 2)));
        Assert.Equal(["b", "z1", "z2"], f.Keys);
        Assert.Equal([1f, 2f], f.Read<float>("b").ToArray());
        using var empty = SafeTensorsFile.Open(TestFiles.Build("{}"));
        Assert.Equal(0, empty.Count);
        Assert.Empty(empty.Metadata);
    }

    // ---- random corruption -------------------------------------------------------------------------

    /// <summary>One edit of a valid file.</summary>
    public sealed record Corruption(int Kind, int Position, int Length, byte Value, int Pick)
    {
        public override string ToString() => $"{Kinds[Kind % Kinds.Length]}@{Position}/{Length}/{Value}/{Pick}";
    }

    private static readonly string[] Kinds = ["flip", "truncate", "length", "json", "json-keep-length"];

    private static readonly string[] Snippets =
    [
        "\"", "{", "}", "[", "]", ",", ":", "-1", "1.5", "1e400", "18446744073709551616", "9223372036854775807", "\"F16\"", "\"BF16\"",
        "\"I64\"", "\"X\"", "null", "true", "\"__metadata__\"", "\"\\ud800\"", "\\u0061", " ", "0", "4294967296", "[]", "{}",
        "\"shape\":[1000000,1000000]", "\"data_offsets\":[0,0]", "\"dtype\"", "2147483647", "\u00e9", "\\", "/*", "\"a\":{}",
    ];

    public static class CorruptionArbitrary
    {
        public static Arbitrary<Corruption> Corruption() =>
            (from kind in Gen.Choose(0, Kinds.Length - 1)
             from position in Gen.Choose(0, 4096)
             from length in Gen.Choose(0, 12)
             from value in Gen.Choose(1, 255)
             from pick in Gen.Choose(0, 1 << 20)
             select new Corruption(kind, position, length, (byte)value, pick)).ToArbitrary();
    }

    private static readonly byte[] Valid = TestFiles.Build([
        new TestTensor("embed.weight", "F32", [3, 2], TestFiles.F32(1, -2, 3, 0.5f, float.NaN, 7)),
        new TestTensor("half", "F16", [2, 2], TestFiles.Bits16(0x3C00, 0x7BFF, 0x0001, 0xFC00)),
        new TestTensor("bf", "BF16", [3], TestFiles.Bits16(0x3F80, 0x4049, 0xC000)),
        new TestTensor("ids", "I64", [2], TestFiles.I64(5, -3)),
        new TestTensor("ids32", "I32", [2], TestFiles.I32(1 << 30, 9)),
        new TestTensor("d", "F64", [], TestFiles.F64(Math.E)),
    ], "{\"format\":\"pt\",\"note\":\"caf\\u00e9\"}");

    private static byte[] Apply(byte[] file, Corruption c)
    {
        int headerLength = file.Length >= 8 ? (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(file), (ulong)(file.Length - 8)) : 0;
        switch (Kinds[c.Kind])
        {
            case "flip":
            {
                if (file.Length == 0) return file;
                var copy = (byte[])file.Clone();
                copy[c.Position % copy.Length] ^= c.Value;
                return copy;
            }
            case "truncate":
                return file[..(file.Length == 0 ? 0 : c.Pick % file.Length)];
            case "length":
            {
                if (file.Length < 8) return file;
                var copy = (byte[])file.Clone();
                ulong[] choices = [0, 1, (ulong)headerLength - 1, (ulong)headerLength + 1, (ulong)headerLength + 8, (ulong)file.Length, (ulong)c.Pick,
                    ulong.MaxValue, 100_000_001, (ulong)headerLength - 8, 1UL << 63];
                BinaryPrimitives.WriteUInt64LittleEndian(copy, choices[c.Value % choices.Length]);
                return copy;
            }
            default: // replace a stretch of the header with a JSON-ish snippet, fixing the header length (or not)
            {
                if (headerLength == 0) return file;
                int at = c.Position % headerLength, cut = Math.Min(c.Length, headerLength - at);
                var snippet = Encoding.UTF8.GetBytes(Snippets[c.Pick % Snippets.Length]);
                var header = file.AsSpan(8, headerLength);
                var newHeader = header[..at].ToArray().Concat(snippet).Concat(header[(at + cut)..].ToArray()).ToArray();
                bool keepLength = Kinds[c.Kind] == "json-keep-length";
                return TestFiles.Build(newHeader, file[(8 + headerLength)..], keepLength ? (ulong)headerLength : (ulong)newHeader.Length);
            }
        }
    }

    [Property(Arbitrary = [typeof(CorruptionArbitrary)], MaxTest = 400)]
    public void CorruptedFilesRaiseOnlyInvalidDataException(Corruption[] corruptions)
    {
        var bytes = Valid;
        foreach (var c in corruptions.Take(4)) bytes = Apply(bytes, c);
        SafeTensorsFile? file = null;
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            file = SafeTensorsFile.Open(bytes);
        }
        catch (InvalidDataException)
        {
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated <= bytes.Length + AllocationSlack, $"rejecting a {bytes.Length}-byte file allocated {allocated} bytes");
            return;
        }
        using (file)
        {
            // The corrupted file is still valid: every tensor reads, or an integer is refused as inexact.
            foreach (var entry in file.Entries)
            {
                TryRead(() => file.Read<double>(entry.Name));
                TryRead(() => file.Read<float>(entry.Name));
                if (entry.DType.IsInteger()) { TryRead(() => file.ReadInt64(entry.Name)); TryRead(() => file.ReadInt32(entry.Name)); }
                Assert.Equal(entry.ElementCount, entry.Shape.ToArray().Aggregate(1L, (p, d) => p * d));
            }
            _ = file.Metadata.Count;
        }
    }

    private static void TryRead(Action read)
    {
        try { read(); }
        catch (InvalidDataException e) { Assert.Contains("cannot represent exactly", e.Message); }
    }

    [Fact]
    public void TheUncorruptedFileIsValid()
    {
        using var f = SafeTensorsFile.Open(Valid);
        Assert.Equal(6, f.Count);
        Assert.Equal("café", f.Metadata["note"]);
        Assert.Equal([1.0, 65504, Math.Pow(2, -24), double.NegativeInfinity], f.Read<double>("half").ToArray());
    }
}
