// The element types of a safetensors file (its "dtype" strings) that this library reads, with their
// sizes in bytes. Every value is stored little-endian.
//
//   F64   IEEE 754 binary64 (double)                    8 bytes
//   F32   IEEE 754 binary32 (float)                     4 bytes
//   F16   IEEE 754 binary16 (System.Half)               2 bytes   1 sign, 5 exponent, 10 fraction bits
//   BF16  bfloat16: the upper 16 bits of a binary32     2 bytes   1 sign, 8 exponent,  7 fraction bits
//   I64   two's-complement signed integer (long)        8 bytes
//   I32   two's-complement signed integer (int)         4 bytes
//
// Reading converts to the destination type: F16, BF16 and F32 widen to float or double exactly; F64
// narrows to float by rounding to nearest; an integer converts only when the value is exactly
// representable in the destination (otherwise the read is refused rather than rounded silently).
// Writing produces F32 or F64. Other safetensors dtypes (BOOL, U8, I8, I16, U16, U32, U64, F8_*) are
// rejected when a file is opened, naming the tensor.
namespace NeuralPrimitives;

/// <summary>
/// The element type of a tensor in a safetensors file, spelled as in the file's header
/// (<c>"F32"</c>, <c>"BF16"</c>, …; PyTorch's <c>torch.float32</c>, <c>torch.bfloat16</c>, …).
/// </summary>
public enum DType
{
    /// <summary>64-bit IEEE 754 floating point (<c>double</c>, <c>torch.float64</c>).</summary>
    F64,

    /// <summary>32-bit IEEE 754 floating point (<c>float</c>, <c>torch.float32</c>).</summary>
    F32,

    /// <summary>16-bit IEEE 754 floating point (<see cref="Half"/>, <c>torch.float16</c>).</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a 32-bit float (<c>torch.bfloat16</c>).</summary>
    BF16,

    /// <summary>64-bit signed integer (<c>long</c>, <c>torch.int64</c>).</summary>
    I64,

    /// <summary>32-bit signed integer (<c>int</c>, <c>torch.int32</c>).</summary>
    I32,
}

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>The size of one element in bytes (8, 4 or 2).</summary>
    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"dtype must be a defined DType, got {(int)dtype}."),
    };

    /// <summary>Whether the dtype holds integers (<see cref="DType.I64"/>, <see cref="DType.I32"/>).</summary>
    public static bool IsInteger(this DType dtype) => dtype is DType.I64 or DType.I32;

    /// <summary>The dtype a tensor of <typeparamref name="T"/> is written as by default: F32 for <c>float</c>, F64 for <c>double</c>.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither <c>float</c> nor <c>double</c>.</exception>
    public static DType Of<T>() where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? DType.F32
        : typeof(T) == typeof(double) ? DType.F64
        : throw new NotSupportedException($"safetensors files are written as F32 or F64; pass dtype explicitly for {typeof(T).Name}.");

    /// <summary>Parses a header's dtype string (its UTF-8 bytes, e.g. <c>"BF16"u8</c>); false when it is not one of these six.</summary>
    internal static bool TryParse(ReadOnlySpan<byte> name, out DType dtype)
    {
        foreach (var candidate in All)
            if (name.SequenceEqual(Utf8Name(candidate))) { dtype = candidate; return true; }
        dtype = default;
        return false;
    }

    /// <summary>Every dtype, for messages and parsing.</summary>
    internal static readonly DType[] All = [DType.F64, DType.F32, DType.F16, DType.BF16, DType.I64, DType.I32];

    /// <summary>The header spelling as UTF-8 bytes (equal to <see cref="DType"/>'s member name).</summary>
    internal static ReadOnlySpan<byte> Utf8Name(DType dtype) => dtype switch
    {
        DType.F64 => "F64"u8,
        DType.F32 => "F32"u8,
        DType.F16 => "F16"u8,
        DType.BF16 => "BF16"u8,
        DType.I64 => "I64"u8,
        DType.I32 => "I32"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"dtype must be a defined DType, got {(int)dtype}."),
    };
}
