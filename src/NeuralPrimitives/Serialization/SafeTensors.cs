// Saving and loading state_dicts as safetensors (the format is described in SafeTensorsHeader.cs).
//
// Writing, for tensors t_1 … t_n in the dictionary's order (a module's StateDict() order):
//   data_offsets(t_k) = [o_k, o_k + |t_k| × size(dtype)],  o_1 = 0, o_{k+1} = end of t_k   (contiguous, no gaps)
//   header = {"__metadata__":{…},"t_1":{"dtype":…,"shape":[…],"data_offsets":[…]},…}   compact JSON, UTF-8,
//            then padded with spaces to a multiple of 8 bytes (as Hugging Face does), so the data starts 8-aligned
//   file   = u64 little-endian header length ‖ header ‖ t_1's bytes ‖ … ‖ t_n's bytes
// The same tensors, metadata and dtype always give the same bytes.
//
// Tied weights: a state_dict lists a shared parameter under each of its names, and each name is written
// with its own copy of the values (Hugging Face's save_file refuses shared tensors instead); loading fills
// the shared parameter once, from the first of its names in the module (Module.LoadStateDict).
using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace NeuralPrimitives;

/// <summary>
/// Reads and writes safetensors files (Hugging Face's format, used for PyTorch checkpoints): <see cref="Save{T}(IReadOnlyDictionary{string, Tensor{T}}, string, IReadOnlyDictionary{string, string}?, DType?)"/>,
/// <see cref="Load{T}(string)"/>, and the module shortcuts <see cref="Save{T}(Module{T}, string, IReadOnlyDictionary{string, string}?, DType?)"/> /
/// <see cref="LoadInto{T}(Module{T}, string, bool)"/>. Open a file with <see cref="SafeTensorsFile.Open(string)"/> to read tensors one at a time.
/// </summary>
public static class SafeTensors
{
    /// <summary>Saves a module's <see cref="Module{T}.StateDict"/> (PyTorch's keys, e.g. <c>lstm.weight_ih_l0</c>) to a file.</summary>
    /// <param name="module">The module.</param>
    /// <param name="path">The file; replaced if it exists (written to a temporary file first, then renamed).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings (e.g. <c>{"format": "pt"}</c>).</param>
    /// <param name="dtype"><see cref="DType.F32"/> or <see cref="DType.F64"/>; by default <typeparamref name="T"/>'s own.</param>
    public static void Save<T>(Module<T> module, string path, IReadOnlyDictionary<string, string>? metadata = null, DType? dtype = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(module);
        Save(module.StateDict(), path, metadata, dtype);
    }

    /// <summary>Loads a safetensors file into a module (PyTorch's <c>model.load_state_dict(load_file(path))</c>), streaming each tensor from the file into its parameter.</summary>
    /// <param name="module">The module.</param>
    /// <param name="path">The file.</param>
    /// <param name="strict">Whether the file's names must match the module's exactly (see <see cref="Module{T}.LoadStateDict(IStateDictSource, bool)"/>).</param>
    /// <returns>The missing and unexpected keys (empty when <paramref name="strict"/>).</returns>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file.</exception>
    /// <exception cref="ArgumentException">Keys are missing or unexpected (strict), or shapes differ; the message lists every one.</exception>
    public static LoadStateDictResult LoadInto<T>(Module<T> module, string path, bool strict = true)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(module);
        using var file = SafeTensorsFile.Open(path);
        return module.LoadStateDict(file, strict);
    }

    /// <summary>Saves named tensors to a safetensors file, in the dictionary's order.</summary>
    /// <param name="tensors">Name → tensor (e.g. a <see cref="Module{T}.StateDict"/>). Names must not be <c>__metadata__</c>.</param>
    /// <param name="path">The file; replaced if it exists (written to a temporary file first, then renamed).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    /// <param name="dtype"><see cref="DType.F32"/> or <see cref="DType.F64"/>; by default <typeparamref name="T"/>'s own.</param>
    public static void Save<T>(IReadOnlyDictionary<string, Tensor<T>> tensors, string path, IReadOnlyDictionary<string, string>? metadata = null, DType? dtype = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var plan = Plan(tensors, metadata, dtype);
        string temporary = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
                Write(plan, stream);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>Writes named tensors in the safetensors format to a stream (the stream is left open).</summary>
    /// <param name="tensors">Name → tensor, written in the dictionary's order.</param>
    /// <param name="stream">A writable stream.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    /// <param name="dtype"><see cref="DType.F32"/> or <see cref="DType.F64"/>; by default <typeparamref name="T"/>'s own.</param>
    public static void Save<T>(IReadOnlyDictionary<string, Tensor<T>> tensors, Stream stream, IReadOnlyDictionary<string, string>? metadata = null, DType? dtype = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite) throw new ArgumentException("stream must be writable.", nameof(stream));
        Write(Plan(tensors, metadata, dtype), stream);
    }

    /// <summary>The safetensors file of named tensors, as bytes (Hugging Face's <c>safetensors.torch.save</c>).</summary>
    /// <param name="tensors">Name → tensor, written in the dictionary's order.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    /// <param name="dtype"><see cref="DType.F32"/> or <see cref="DType.F64"/>; by default <typeparamref name="T"/>'s own.</param>
    public static byte[] Serialize<T>(IReadOnlyDictionary<string, Tensor<T>> tensors, IReadOnlyDictionary<string, string>? metadata = null, DType? dtype = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var plan = Plan(tensors, metadata, dtype);
        var bytes = new byte[checked(8 + plan.Header.Length + plan.DataLength)];
        using (var stream = new MemoryStream(bytes))
            Write(plan, stream);
        return bytes;
    }

    /// <summary>Reads every tensor of a safetensors file, converted to <typeparamref name="T"/>, in the file's order (Hugging Face's <c>load_file</c>).</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file, or an integer tensor holds a value <typeparamref name="T"/> cannot represent exactly.</exception>
    public static OrderedDictionary<string, Tensor<T>> Load<T>(string path) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        using var file = SafeTensorsFile.Open(path);
        return ReadAll<T>(file);
    }

    /// <summary>Reads every tensor of a safetensors file held in memory (Hugging Face's <c>safetensors.torch.load</c>).</summary>
    /// <param name="bytes">The whole file.</param>
    /// <exception cref="InvalidDataException">The bytes are not a valid safetensors file, or an integer tensor holds a value <typeparamref name="T"/> cannot represent exactly.</exception>
    public static OrderedDictionary<string, Tensor<T>> Deserialize<T>(ReadOnlyMemory<byte> bytes) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        using var file = SafeTensorsFile.Open(bytes);
        return ReadAll<T>(file);
    }

    private static OrderedDictionary<string, Tensor<T>> ReadAll<T>(SafeTensorsFile file) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var result = new OrderedDictionary<string, Tensor<T>>(file.Count, StringComparer.Ordinal);
        foreach (var entry in file.Entries) result.Add(entry.Name, file.Read<T>(entry.Name));
        return result;
    }

    // ---- writing ------------------------------------------------------------------------------------

    /// <summary>What will be written: the padded header and, per tensor, its dense values.</summary>
    private sealed record WritePlan<T>(byte[] Header, DType DType, List<Tensor<T>> Tensors, long DataLength) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

    private static WritePlan<T> Plan<T>(IReadOnlyDictionary<string, Tensor<T>> tensors, IReadOnlyDictionary<string, string>? metadata, DType? dtype)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        SafeTensorsFile.CheckLittleEndian();
        var fileType = dtype ?? DTypes.Of<T>();
        if (fileType is not (DType.F32 or DType.F64))
            throw new ArgumentOutOfRangeException(nameof(dtype), fileType, $"dtype must be F32 or F64 (the types this library writes), got {fileType}.");
        int size = fileType.ElementSize();

        var json = new ArrayBufferWriter<byte>();
        var dense = new List<Tensor<T>>(tensors.Count);
        long offset = 0;
        // UnsafeRelaxedJsonEscaping keeps names readable (only '"', '\' and control characters are escaped); the
        // header is data, never embedded in HTML.
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    if (key is null || value is null) throw new ArgumentException("metadata keys and values must not be null.", nameof(metadata));
                    writer.WriteString(key, value);
                }
                writer.WriteEndObject();
            }
            foreach (var (name, tensor) in tensors)
            {
                if (name == "__metadata__") throw new ArgumentException("a tensor must not be named \"__metadata__\" (the name is reserved for the metadata).", nameof(tensors));
                if (tensor is null) throw new ArgumentException($"tensor '{name}' is null.", nameof(tensors));
                long bytes = checked(tensor.FlattenedLength * size);
                writer.WriteStartObject(name);
                writer.WriteString("dtype", DTypes.Utf8Name(fileType));
                writer.WriteStartArray("shape");
                foreach (var d in tensor.Lengths) writer.WriteNumberValue((long)d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                dense.Add(tensor.IsDense ? tensor : tensor.ToDenseTensor());
                offset += bytes;
            }
            writer.WriteEndObject();
        }
        int padded = (json.WrittenCount + 7) / 8 * 8;
        if (padded > SafeTensorsHeader.MaxLength)
            throw new ArgumentException($"the header would take {padded} bytes, more than the format's 100 MB limit.", nameof(tensors));
        var header = new byte[padded];
        json.WrittenSpan.CopyTo(header);
        header.AsSpan(json.WrittenCount).Fill((byte)' ');
        return new WritePlan<T>(header, fileType, dense, offset);
    }

    private static void Write<T>(WritePlan<T> plan, Stream stream) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)plan.Header.Length);
        stream.Write(length);
        stream.Write(plan.Header);
        foreach (var tensor in plan.Tensors) ElementConversion.Encode<T>(tensor.AsReadOnlySpan(), plan.DType, stream);
    }
}
