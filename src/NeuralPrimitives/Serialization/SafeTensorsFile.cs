// A safetensors file opened for reading: memory-mapped, its header validated up front (SafeTensorsHeader.cs),
// its tensors copied straight from the mapping into a destination on demand.
//
//   var file = SafeTensorsFile.Open("model.safetensors");     // maps the file, checks the whole header
//   model.LoadStateDict(file);                                  // each tensor: mapping → parameter, converted
//   Tensor<float> w = file.Read<float>("head.weight");          // or one tensor as a new Tensor<T>
//
// The file is never read into memory as a whole: the operating system pages in what a copy touches, so
// loading a checkpoint into a model holds the parameters once (plus whatever pages the OS caches).
// Opening allocates nothing that depends on the shapes or offsets the header declares; a malformed file
// is rejected, with an InvalidDataException, before more than the file's size has been allocated.
using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace NeuralPrimitives;

/// <summary>
/// A safetensors file (Hugging Face's format: an 8-byte header length, a JSON header, then the raw tensor bytes)
/// opened for reading. The whole header is validated when the file is opened; tensors are then read on demand by
/// copying from a read-only memory mapping, converting F32, F64, F16, BF16, I64 and I32 to the element type asked for.
/// Pass it to <see cref="Module{T}.LoadStateDict(IStateDictSource, bool)"/> to stream each tensor into its parameter.
/// </summary>
/// <remarks>
/// <para>Reading methods may be called from several threads at once; <see cref="Dispose"/> must not run concurrently with them.</para>
/// <para>The file must not be modified or truncated while it is open (as with any memory-mapped file: a truncated
/// mapping faults on access).</para>
/// <para>System.Numerics.Tensors has no rank-0 tensor, so <see cref="Read{T}"/> returns a scalar (shape <c>[]</c>)
/// as a one-element tensor of shape <c>[1]</c>; <see cref="GetShape"/> still reports <c>[]</c>.</para>
/// </remarks>
public sealed unsafe class SafeTensorsFile : IStateDictSource, IDisposable
{
    private Backing _backing;
    private byte* _bytes;               // the file's first byte (null once disposed)
    private readonly long _dataStart;   // 8 + header length
    private readonly SafeTensorsHeader _header;

    /// <summary>
    /// What holds the bytes: a read-only mapping and its view, whose pointer has been acquired (a file), or a pin (memory).
    /// <see cref="Release"/> frees what is held, also when opening stopped half-way.
    /// </summary>
    private struct Backing
    {
        public MemoryMappedFile? Mapping;
        public MemoryMappedViewAccessor? View;
        public byte* Acquired;          // the view's pointer, null until acquired
        public MemoryHandle Pin;

        public void Release()
        {
            if (Acquired != null) View!.SafeMemoryMappedViewHandle.ReleasePointer();
            View?.Dispose();
            Mapping?.Dispose();
            Pin.Dispose();
        }
    }

    private SafeTensorsFile(Backing backing, byte* bytes, long length, string source)
    {
        _backing = backing;
        _bytes = bytes;
        Length = length;
        Source = source;
        int headerLength = SafeTensorsHeader.ReadLength(new ReadOnlySpan<byte>(bytes, (int)Math.Min(length, 8)), length, source);
        _dataStart = 8 + headerLength;
        _header = SafeTensorsHeader.Parse(new ReadOnlySpan<byte>(bytes + 8, headerLength), length - _dataStart, source);
    }

    /// <summary>Opens and validates a safetensors file, memory-mapping it read-only.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file; the message names the tensor and the problem.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        CheckLittleEndian();
        string source = $"'{path}'";
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var backing = new Backing();
        try
        {
            long length = stream.Length;
            if (length < 8) throw SafeTensorsHeader.TooShort(length, source); // (an empty file cannot even be mapped)
            backing.Mapping = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            var view = backing.View = backing.Mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref backing.Acquired);
            return new SafeTensorsFile(backing, backing.Acquired + view.PointerOffset, length, source);
        }
        catch
        {
            backing.Release();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates a safetensors file held in memory (e.g. <see cref="SafeTensors.Serialize{T}"/>'s result). The memory is pinned, not copied, until <see cref="Dispose"/>.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <exception cref="InvalidDataException">The bytes are not a valid safetensors file; the message names the tensor and the problem.</exception>
    public static SafeTensorsFile Open(ReadOnlyMemory<byte> bytes)
    {
        CheckLittleEndian();
        var backing = new Backing { Pin = bytes.Pin() };
        try
        {
            return new SafeTensorsFile(backing, (byte*)backing.Pin.Pointer, bytes.Length, "(in memory)");
        }
        catch
        {
            backing.Release();
            throw;
        }
    }

    /// <summary>The file's path in quotes, or <c>(in memory)</c>; used in messages.</summary>
    public string Source { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Where the data buffer starts in the file: 8 + the header's length. Entry offsets are relative to it.</summary>
    public long DataStart => _dataStart;

    /// <summary>The tensors, in the header's order.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries => _header.Entries;

    /// <summary>The header's <c>__metadata__</c> (string → string; empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _header.Metadata;

    /// <summary>The tensor names, in the header's order.</summary>
    public IEnumerable<string> Keys => _header.Entries.Select(e => e.Name);

    /// <summary>The number of tensors.</summary>
    public int Count => _header.Entries.Length;

    /// <summary>Whether the file has a tensor named <paramref name="name"/>.</summary>
    public bool ContainsKey(string name) => _header.ByName.ContainsKey(name);

    /// <summary>The entry of the tensor named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensorsEntry this[string name] => _header.ByName.TryGetValue(name, out var e) ? e
        : throw new KeyNotFoundException($"{Source} has no tensor named '{name}' ({Count} tensors{(Count > 0 ? ", e.g. '" + _header.Entries[0].Name + "'" : "")}).");

    /// <inheritdoc />
    public int[] GetShape(string key) => this[key].ShapeArray();

    /// <summary>
    /// Copies the tensor named <paramref name="key"/> from the file into <paramref name="destination"/>, converting each
    /// element (F16, BF16, F32 widen exactly; F64 → float rounds to nearest; an integer must be exactly representable).
    /// </summary>
    /// <param name="key">The tensor's name.</param>
    /// <param name="destination">Exactly the tensor's element count.</param>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="InvalidDataException">An integer element cannot be represented exactly as <typeparamref name="TDest"/>.</exception>
    public void CopyTo<TDest>(string key, Span<TDest> destination) where TDest : unmanaged, IBinaryFloatingPointIeee754<TDest> =>
        Copy(this[key], destination, nameof(destination));

    /// <summary>Reads the tensor named <paramref name="name"/> into a new tensor of <typeparamref name="T"/> (converting as <see cref="CopyTo{TDest}"/> does).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="InvalidDataException">An integer element cannot be represented exactly as <typeparamref name="T"/>.</exception>
    public Tensor<T> Read<T>(string name) where T : unmanaged, IBinaryFloatingPointIeee754<T> => ReadAs<T>(name);

    /// <summary>Reads an integer tensor (I64, or I32 widened) named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">The tensor is not an integer tensor.</exception>
    public Tensor<long> ReadInt64(string name) => ReadAs<long>(RequireInteger(name));

    /// <summary>Reads an integer tensor (I32, or I64 whose every value fits in an <c>int</c>) named <paramref name="name"/>, e.g. token ids for an <see cref="Embedding{T}"/>.</summary>
    /// <exception cref="ArgumentException">The tensor is not an integer tensor.</exception>
    /// <exception cref="InvalidDataException">An I64 value is outside the range of <c>int</c>.</exception>
    public Tensor<int> ReadInt32(string name) => ReadAs<int>(RequireInteger(name));

    private string RequireInteger(string name)
    {
        var entry = this[name];
        if (!entry.DType.IsInteger())
            throw new ArgumentException($"tensor '{name}' is {entry.DType}, not an integer tensor (I64 or I32); read it with Read<T>.", nameof(name));
        return name;
    }

    private Tensor<T> ReadAs<T>(string name) where T : unmanaged, INumberBase<T>
    {
        var entry = this[name];
        if (entry.ElementCount > Array.MaxLength)
            throw new NotSupportedException($"tensor '{name}' has {entry.ElementCount} elements, more than one .NET array holds ({Array.MaxLength}).");
        var values = new T[entry.ElementCount];
        Copy(entry, values.AsSpan(), nameof(name));
        var shape = entry.Shape.Length == 0 ? [1] : Array.ConvertAll(entry.ShapeArray(), d => (nint)d);
        return Tensor.Create(values, shape);
    }

    // Copies in pieces of at most 2^24 elements so that no span of bytes exceeds int.MaxValue, even for a tensor
    // larger than 2 GB in the file.
    private void Copy<TDest>(SafeTensorsEntry entry, Span<TDest> destination, string argument) where TDest : unmanaged, INumberBase<TDest>
    {
        if (destination.Length != entry.ElementCount)
            throw new ArgumentException($"{argument} has the wrong length for tensor '{entry.Name}' {Shapes.Format(entry.Shape)}: expected {entry.ElementCount}, got {destination.Length}.", argument);
        ObjectDisposedException.ThrowIf(_bytes == null, this);
        const int piece = 1 << 24;
        int size = entry.DType.ElementSize();
        byte* start = _bytes + _dataStart + entry.Begin;
        for (int i = 0; i < destination.Length; i += piece)
        {
            int n = Math.Min(piece, destination.Length - i);
            var source = new ReadOnlySpan<byte>(start + (long)i * size, n * size);
            ElementConversion.Decode(entry.DType, source, destination.Slice(i, n), entry.Name, i);
        }
    }

    internal static void CheckLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; reading and writing it on a big-endian machine is not supported.");
    }

    /// <summary>Unmaps the file (or unpins the memory). Tensors already read stay valid.</summary>
    public void Dispose()
    {
        if (_bytes == null) return;
        _bytes = null;
        _backing.Release();
    }
}
