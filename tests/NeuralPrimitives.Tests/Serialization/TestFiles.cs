// A safetensors writer of the tests' own, independent of the library's: the header is put together as a
// string and the elements are encoded with BinaryPrimitives. It writes any dtype string and any header text,
// so tests can build F16 / BF16 / I64 / I32 files and malformed ones.
using System.Buffers.Binary;
using System.Text;

namespace NeuralPrimitives.Tests.Serialization;

/// <summary>One tensor for <see cref="TestFiles.Build(IEnumerable{TestTensor}, string?, bool)"/>: its dtype string, shape and raw bytes.</summary>
public sealed record TestTensor(string Name, string DType, long[] Shape, byte[] Data);

public static class TestFiles
{
    /// <summary>A file from a header text and a data buffer; the header length prefix is the header's own unless given.</summary>
    public static byte[] Build(string header, byte[]? data = null, ulong? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        return Build(json, data ?? [], declaredLength ?? (ulong)json.Length);
    }

    /// <summary>A file from raw header bytes, a data buffer and the header length to declare.</summary>
    public static byte[] Build(byte[] header, byte[] data, ulong declaredLength)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    /// <summary>A valid file: tensors stored contiguously in the given order, header padded with spaces to 8 bytes when <paramref name="pad"/>.</summary>
    public static byte[] Build(IEnumerable<TestTensor> tensors, string? metadataJson = null, bool pad = true)
    {
        var header = new StringBuilder("{");
        if (metadataJson is not null) header.Append("\"__metadata__\":").Append(metadataJson);
        var data = new List<byte>();
        foreach (var t in tensors)
        {
            if (header.Length > 1) header.Append(',');
            header.Append('"').Append(t.Name).Append("\":{\"dtype\":\"").Append(t.DType).Append("\",\"shape\":[")
                .Append(string.Join(",", t.Shape)).Append("],\"data_offsets\":[").Append(data.Count).Append(',')
                .Append(data.Count + t.Data.Length).Append("]}");
            data.AddRange(t.Data);
        }
        header.Append('}');
        if (pad) while ((Encoding.UTF8.GetByteCount(header.ToString()) % 8) != 0) header.Append(' ');
        return Build(header.ToString(), data.ToArray());
    }

    // ---- element encoders (little-endian) ----------------------------------------------------------

    public static byte[] F64(params double[] values) => Encode(values, 8, (s, v) => BinaryPrimitives.WriteDoubleLittleEndian(s, v));
    public static byte[] F32(params float[] values) => Encode(values, 4, (s, v) => BinaryPrimitives.WriteSingleLittleEndian(s, v));
    public static byte[] Bits16(params ushort[] bits) => Encode(bits, 2, (s, v) => BinaryPrimitives.WriteUInt16LittleEndian(s, v));
    public static byte[] I64(params long[] values) => Encode(values, 8, (s, v) => BinaryPrimitives.WriteInt64LittleEndian(s, v));
    public static byte[] I32(params int[] values) => Encode(values, 4, (s, v) => BinaryPrimitives.WriteInt32LittleEndian(s, v));

    private delegate void Writer<TValue>(Span<byte> destination, TValue value);

    private static byte[] Encode<TValue>(TValue[] values, int size, Writer<TValue> write)
    {
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++) write(bytes.AsSpan(i * size, size), values[i]);
        return bytes;
    }

    // ---- reference decoders from the bit layouts (not from System.Half or the library) --------------

    /// <summary>IEEE binary16: sign, 5 exponent bits (bias 15), 10 fraction bits.</summary>
    public static double HalfValue(ushort bits) => Decode(bits, exponentBits: 5, fractionBits: 10);

    /// <summary>bfloat16: sign, 8 exponent bits (bias 127), 7 fraction bits.</summary>
    public static double BFloat16Value(ushort bits) => Decode(bits, exponentBits: 8, fractionBits: 7);

    private static double Decode(ushort bits, int exponentBits, int fractionBits)
    {
        int sign = bits >> 15;
        int exponent = (bits >> fractionBits) & ((1 << exponentBits) - 1);
        int fraction = bits & ((1 << fractionBits) - 1);
        int bias = (1 << (exponentBits - 1)) - 1;
        double magnitude = exponent == (1 << exponentBits) - 1
            ? (fraction == 0 ? double.PositiveInfinity : double.NaN)
            : exponent == 0
                ? fraction * Math.Pow(2, 1 - bias - fractionBits)                         // subnormal
                : (1 + fraction / Math.Pow(2, fractionBits)) * Math.Pow(2, exponent - bias); // normal
        return sign == 1 ? -magnitude : magnitude;
    }

    /// <summary>A fresh path in the temporary directory (deleted by <see cref="TempFile.Dispose"/>).</summary>
    public static TempFile Temp(byte[]? contents = null)
    {
        var path = Path.Combine(Path.GetTempPath(), "np-safetensors-" + Guid.NewGuid().ToString("N") + ".safetensors");
        if (contents is not null) File.WriteAllBytes(path, contents);
        return new TempFile(path);
    }
}

public sealed class TempFile(string path) : IDisposable
{
    public string Path { get; } = path;

    public void Dispose()
    {
        if (File.Exists(Path)) File.Delete(Path);
    }
}
