// Converting tensor elements between a file's raw little-endian bytes and float / double, in bulk.
//
//   F32 → float, F64 → double       a copy
//   F32 → double                    exact widening              (TensorPrimitives.ConvertTruncating)
//   F64 → float                     round to nearest even       (TensorPrimitives.ConvertTruncating)
//   F16 → float                     exact                       (TensorPrimitives.ConvertToSingle, vectorised)
//   BF16 → float                    exact: bits(x) = bf16 << 16 (a bfloat16 is the upper half of a float32)
//   F16, BF16 → double              through float, both steps exact
//   I64, I32 → any T                only if exact: T(v) converted back must give v, else InvalidDataException
//                                   (float holds every integer up to 2^24 in magnitude, double up to 2^53)
//   other T (e.g. Half)             through double, then T.CreateTruncating (one rounding)
// Writing: T → F32 or F64 the same way (a copy when T already is that type).
// No per-element virtual calls: the float/double paths are span kernels; the generic paths are
// static-abstract (generic math) calls that the JIT specialises for each struct T.
// Every byte order here is little-endian, as the format requires; SafeTensorsFile and SafeTensors
// refuse to run on a big-endian machine.
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

internal static class ElementConversion
{
    private const int Chunk = 1024; // elements per stack buffer in two-step conversions

    /// <summary>Converts the raw elements <paramref name="source"/> of <paramref name="dtype"/> into <paramref name="destination"/> (same count).</summary>
    /// <param name="dtype">How <paramref name="source"/> is stored.</param>
    /// <param name="source">destination.Length × size(dtype) bytes.</param>
    /// <param name="destination">Where the values go.</param>
    /// <param name="tensor">The tensor's name, for the message when an integer does not fit.</param>
    /// <param name="firstIndex">Flat index of the first element (messages give the element's index in the tensor).</param>
    public static void Decode<TDest>(DType dtype, ReadOnlySpan<byte> source, Span<TDest> destination, string tensor, long firstIndex)
        where TDest : unmanaged, INumberBase<TDest>
    {
        if (dtype == DType.I64) { IntegersTo(MemoryMarshal.Cast<byte, long>(source), destination, tensor, firstIndex); return; }
        if (dtype == DType.I32) { IntegersTo(MemoryMarshal.Cast<byte, int>(source), destination, tensor, firstIndex); return; }
        if (typeof(TDest) == typeof(float)) { ToSingle(dtype, source, MemoryMarshal.Cast<TDest, float>(destination)); return; }
        if (typeof(TDest) == typeof(double)) { ToDouble(dtype, source, MemoryMarshal.Cast<TDest, double>(destination)); return; }
        Span<double> buffer = stackalloc double[Chunk];
        int size = dtype.ElementSize();
        for (int i = 0; i < destination.Length; i += Chunk)
        {
            int n = Math.Min(Chunk, destination.Length - i);
            ToDouble(dtype, source.Slice(i * size, n * size), buffer[..n]);
            TensorPrimitives.ConvertTruncating<double, TDest>(buffer[..n], destination.Slice(i, n));
        }
    }

    /// <summary>F32, F64, F16 or BF16 bytes → float.</summary>
    private static void ToSingle(DType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.F32: MemoryMarshal.Cast<byte, float>(source).CopyTo(destination); break;
            case DType.F64: TensorPrimitives.ConvertTruncating(MemoryMarshal.Cast<byte, double>(source), destination); break;
            case DType.F16: TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination); break;
            case DType.BF16: BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination); break;
            default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "expected a floating-point dtype.");
        }
    }

    /// <summary>F64, F32, F16 or BF16 bytes → double (the 16-bit types through a float buffer).</summary>
    private static void ToDouble(DType dtype, ReadOnlySpan<byte> source, Span<double> destination)
    {
        switch (dtype)
        {
            case DType.F64: MemoryMarshal.Cast<byte, double>(source).CopyTo(destination); break;
            case DType.F32: TensorPrimitives.ConvertTruncating(MemoryMarshal.Cast<byte, float>(source), destination); break;
            default:
                Span<float> buffer = stackalloc float[Chunk];
                for (int i = 0; i < destination.Length; i += Chunk)
                {
                    int n = Math.Min(Chunk, destination.Length - i);
                    ToSingle(dtype, source.Slice(i * 2, n * 2), buffer[..n]);
                    TensorPrimitives.ConvertTruncating<float, double>(buffer[..n], destination.Slice(i, n));
                }
                break;
        }
    }

    /// <summary>bfloat16 → float: the 16 stored bits become the upper half of the float's bits, the lower half zero.</summary>
    internal static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int step = Vector<ushort>.Count, half = Vector<uint>.Count;
            for (; i <= source.Length - step; i += step)
            {
                Vector.Widen(new Vector<ushort>(source[i..]), out Vector<uint> low, out Vector<uint> high);
                Vector.AsVectorSingle(low << 16).CopyTo(destination[i..]);
                Vector.AsVectorSingle(high << 16).CopyTo(destination[(i + half)..]);
            }
        }
        for (; i < source.Length; i++) destination[i] = BitConverter.Int32BitsToSingle(source[i] << 16);
    }

    /// <summary>Integers → T, refusing any value that T cannot hold exactly.</summary>
    private static void IntegersTo<TInt, TDest>(ReadOnlySpan<TInt> source, Span<TDest> destination, string tensor, long firstIndex)
        where TInt : unmanaged, IBinaryInteger<TInt>
        where TDest : unmanaged, INumberBase<TDest>
    {
        for (int i = 0; i < source.Length; i++)
        {
            var value = TDest.CreateTruncating(source[i]);
            if (Int128.CreateTruncating(value) != Int128.CreateTruncating(source[i]))
                throw new InvalidDataException(
                    $"tensor '{tensor}': element {firstIndex + i} is {source[i]}, which {typeof(TDest).Name} cannot represent exactly (it would become {value}); SafeTensorsFile.ReadInt64 reads every integer exactly.");
            destination[i] = value;
        }
    }

    /// <summary>Writes <paramref name="values"/> to <paramref name="stream"/> as little-endian F32 or F64.</summary>
    public static void Encode<T>(ReadOnlySpan<T> values, DType dtype, Stream stream) where T : unmanaged, INumberBase<T>
    {
        if ((dtype == DType.F32 && typeof(T) == typeof(float)) || (dtype == DType.F64 && typeof(T) == typeof(double)))
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        if (dtype == DType.F32) EncodeAs<T, float>(values, stream);
        else if (dtype == DType.F64) EncodeAs<T, double>(values, stream);
        else throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "only F32 and F64 are written.");
    }

    private static void EncodeAs<T, TFile>(ReadOnlySpan<T> values, Stream stream)
        where T : unmanaged, INumberBase<T>
        where TFile : unmanaged, INumberBase<TFile>
    {
        Span<TFile> buffer = stackalloc TFile[Chunk];
        for (int i = 0; i < values.Length; i += Chunk)
        {
            int n = Math.Min(Chunk, values.Length - i);
            TensorPrimitives.ConvertTruncating(values.Slice(i, n), buffer[..n]);
            stream.Write(MemoryMarshal.AsBytes(buffer[..n]));
        }
    }
}
