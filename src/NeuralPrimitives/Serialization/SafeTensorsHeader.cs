// The safetensors header: how it is parsed and everything that is checked before a byte of tensor data is read.
//
// File layout (https://github.com/huggingface/safetensors, "Format"):
//   bytes [0, 8)            N = the header's length, an unsigned 64-bit little-endian integer
//   bytes [8, 8 + N)        the header: UTF-8 JSON that starts with '{' and may be padded at the end with spaces
//   bytes [8 + N, end)      the data buffer: every tensor's elements, raw, little-endian, row-major
// Header (one entry per tensor, plus an optional "__metadata__" of string → string):
//   {"__metadata__":{"format":"pt"},
//    "embed.weight":{"dtype":"F32","shape":[11,5],"data_offsets":[0,220]}, ...}
//   data_offsets [begin, end) are byte offsets into the data buffer (not the file), and
//   end − begin = (d0 · d1 · …) × size(dtype)   (shape [] is a scalar: one element).
//
// What is checked (each failure is an InvalidDataException naming the tensor and the problem):
//   N ≤ 100 MB and 8 + N ≤ the file length (checked by SafeTensorsFile before this parser runs);
//   the header is valid UTF-8, starts with '{' and has only whitespace (HF pads with spaces) after the closing '}';
//   it is JSON, its root an object whose values are objects; an entry has exactly the fields dtype,
//   shape and data_offsets, each once; dtype is one of DType; every dimension is an integer in
//   [0, int.MaxValue]; data_offsets are two integers with 0 ≤ begin ≤ end ≤ data length;
//   end − begin equals the size dtype × shape needs (computed without overflow); names are unique
//   ("__metadata__" is reserved, its values are strings); and the tensors tile the data buffer exactly:
//   sorted by begin, the first starts at 0, each starts where the previous one ended, the last ends
//   at the end of the file — no overlap, no gap, no trailing bytes (Hugging Face's reader requires the same).
//   A metadata key given twice keeps its last value, as Python's json and Hugging Face's reader do.
//
// Allocation bound. A malformed file must be rejected before we allocate more than the file's size, so
// the header is parsed in two passes over the same bytes (no copy of the header is made):
//   pass 1 (check)  validates everything above, keeping per tensor only an Extent (24 bytes: its byte
//                   range, a hash of its name and where the name is). Every entry takes at least
//                   MinEntryBytes (50) bytes of header, so these records take less than half the header.
//                   Escaped strings (\u00e9, \") are unescaped into one scratch buffer that only ever
//                   grows to the longest such string. Nothing depends on the declared shapes or offsets.
//   pass 2 (build)  runs only when pass 1 found nothing wrong, and creates the entries (names, shapes)
//                   and the metadata.
// Names are compared for duplicates by sorting the hashes; equal hashes are confirmed by comparing the names.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace NeuralPrimitives;

/// <summary>The parsed, validated header of a safetensors file (see the file's header comment for the rules).</summary>
internal sealed class SafeTensorsHeader
{
    /// <summary>Hugging Face's limit on the header length, in bytes.</summary>
    public const long MaxLength = 100_000_000;

    /// <summary>The shortest possible tensor entry (empty name, shortest dtype, shape [], offsets [0,0]).</summary>
    internal static readonly int MinEntryBytes = "\"\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}"u8.Length;

    private SafeTensorsHeader(SafeTensorsEntry[] entries, Dictionary<string, SafeTensorsEntry> byName, Dictionary<string, string> metadata)
    {
        Entries = entries;
        ByName = byName;
        Metadata = metadata;
    }

    /// <summary>The tensors in the header's order.</summary>
    public SafeTensorsEntry[] Entries { get; }

    /// <summary>The tensors by name.</summary>
    public Dictionary<string, SafeTensorsEntry> ByName { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when absent).</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>Reads the 8-byte little-endian header length at the start of a file and checks it against the file length.</summary>
    /// <param name="file">The whole file (only its first 8 bytes are read).</param>
    /// <param name="fileLength">The file's length in bytes.</param>
    /// <param name="source">The file's name, for messages.</param>
    public static int ReadLength(ReadOnlySpan<byte> file, long fileLength, string source)
    {
        if (fileLength < 8) throw TooShort(fileLength, source);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (n > MaxLength)
            throw Invalid(source, $"the header length is {n} bytes, more than the 100 MB limit ({MaxLength} bytes).");
        if (n > (ulong)(fileLength - 8))
            throw Invalid(source, $"the header length is {n} bytes, past the end of the file ({fileLength} bytes, so at most {fileLength - 8}).");
        return (int)n;
    }

    /// <summary>The error for a file too short to hold the 8-byte header length.</summary>
    public static InvalidDataException TooShort(long fileLength, string source) =>
        Invalid(source, $"the file has {fileLength} bytes; a safetensors file starts with an 8-byte header length.");

    /// <summary>Parses and validates a header: pass 1 checks, pass 2 builds.</summary>
    /// <param name="header">The N header bytes.</param>
    /// <param name="dataLength">The length of the data buffer that follows the header.</param>
    /// <param name="source">The file's name, for messages.</param>
    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> header, long dataLength, string source)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
            throw Invalid(source, $"the header must be a JSON object starting with '{{', got {(header.Length == 0 ? "an empty header" : $"byte 0x{header[0]:X2} first")}.");
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw Invalid(source, "the header is not valid UTF-8.");

        var parser = new Parser(source, dataLength);
        var extents = new Extent[header.Length / MinEntryBytes]; // no entry is shorter than MinEntryBytes
        int count = parser.Walk(header, extents, null);
        CheckUniqueNames(header, extents.AsSpan(0, count), source);
        CheckTiling(header, extents.AsSpan(0, count), dataLength, source);

        var built = new Built(count);
        parser.Walk(header, null, built);
        return new SafeTensorsHeader(built.Entries.ToArray(), built.ByName, built.Metadata);
    }

    /// <summary>What pass 1 keeps of one tensor: 24 bytes.</summary>
    private struct Extent
    {
        public long Begin, End;
        public int NameHash;   // hash of the unescaped UTF-8 name
        public int NameToken;  // where the name's opening quote is in the header (to print or compare it)
    }

    /// <summary>What pass 2 builds.</summary>
    private sealed class Built(int count)
    {
        public readonly List<SafeTensorsEntry> Entries = new(count);
        public readonly Dictionary<string, SafeTensorsEntry> ByName = new(count, StringComparer.Ordinal);
        public readonly Dictionary<string, string> Metadata = new(StringComparer.Ordinal);
    }

    // ---- the walk over the JSON (both passes) -----------------------------------------------------

    private ref struct Parser(string source, long dataLength)
    {
        private byte[]? _scratch; // unescaped copies of escaped strings; grows to the longest one, never more

        /// <summary>
        /// Walks the root object. Pass 1 (<paramref name="extents"/> given) records each tensor's extent;
        /// pass 2 (<paramref name="built"/> given) creates the entries and metadata. Returns the tensor count.
        /// </summary>
        public int Walk(ReadOnlySpan<byte> header, Span<Extent> extents, Built? built)
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 4 });
            int count = 0;
            bool sawMetadata = false;
            try
            {
                reader.Read(); // '{' (checked by Parse)
                while (Next(ref reader) == JsonTokenType.PropertyName)
                {
                    int nameToken = checked((int)reader.TokenStartIndex);
                    var name = Unescaped(ref reader);
                    if (name.SequenceEqual("__metadata__"u8))
                    {
                        if (sawMetadata) throw Invalid(source, "\"__metadata__\" appears twice in the header.");
                        sawMetadata = true;
                        ReadMetadata(ref reader, header, built?.Metadata);
                        continue;
                    }
                    int nameHash = Hash(name);
                    var entryName = built is null ? null : reader.GetString()!;
                    var shape = built is null ? null : new List<int>();
                    var (dtype, begin, end) = ReadEntry(ref reader, header, nameToken, shape);
                    if (built is null)
                        extents[count] = new Extent { Begin = begin, End = end, NameHash = nameHash, NameToken = nameToken };
                    else
                    {
                        var entry = new SafeTensorsEntry(entryName!, dtype, shape!.ToArray(), begin, end);
                        // Pass 1 proved the names unique; a clash now means the file changed while it was being opened.
                        if (!built.ByName.TryAdd(entry.Name, entry)) throw Invalid(source, $"tensor '{entry.Name}' appears twice (did the file change while it was opened?).");
                        built.Entries.Add(entry);
                    }
                    count++;
                }
                // The root object has ended: only padding may follow (spaces, as Hugging Face pads; any JSON whitespace is accepted).
                int close = checked((int)reader.BytesConsumed);
                int bad = header[close..].IndexOfAnyExcept(" \t\r\n"u8);
                if (bad >= 0)
                    throw Invalid(source, $"the header has byte 0x{header[close + bad]:X2} at position {close + bad} after its closing '}}'; only whitespace may pad it.");
            }
            catch (JsonException e)
            {
                throw Invalid(source, $"the header is not valid JSON: {e.Message}", e);
            }
            return count;
        }

        /// <summary>Reads one tensor entry (the value after its name): its dtype, shape (into <paramref name="shape"/> when given) and byte range.</summary>
        private (DType DType, long Begin, long End) ReadEntry(ref Utf8JsonReader reader, ReadOnlySpan<byte> header, int nameToken, List<int>? shape)
        {
            if (Next(ref reader) != JsonTokenType.StartObject)
                throw Tensor(header, nameToken, $"its entry must be an object with dtype, shape and data_offsets, got a JSON {Describe(reader.TokenType)}.");
            DType? dtype = null;
            long elements = -1, begin = -1, end = -1; // elements = Π shape, or long.MaxValue when it overflows
            int shapeStart = 0, shapeEnd = 0;         // the shape's JSON text, for messages
            while (Next(ref reader) == JsonTokenType.PropertyName)
            {
                var field = Unescaped(ref reader);
                if (field.SequenceEqual("dtype"u8))
                {
                    if (dtype is not null) throw Tensor(header, nameToken, "the field \"dtype\" appears twice.");
                    if (Next(ref reader) != JsonTokenType.String)
                        throw Tensor(header, nameToken, $"dtype must be a string, got a JSON {Describe(reader.TokenType)}.");
                    if (!DTypes.TryParse(Unescaped(ref reader), out var parsed))
                        throw Tensor(header, nameToken, $"unknown dtype \"{reader.GetString()}\" (this library reads {string.Join(", ", DTypes.All)}).");
                    dtype = parsed;
                }
                else if (field.SequenceEqual("shape"u8))
                {
                    if (elements >= 0) throw Tensor(header, nameToken, "the field \"shape\" appears twice.");
                    shapeStart = checked((int)reader.BytesConsumed);
                    elements = ReadShape(ref reader, header, nameToken, shape);
                    shapeEnd = checked((int)reader.BytesConsumed);
                }
                else if (field.SequenceEqual("data_offsets"u8))
                {
                    if (begin >= 0) throw Tensor(header, nameToken, "the field \"data_offsets\" appears twice.");
                    (begin, end) = ReadOffsets(ref reader, header, nameToken);
                }
                else
                    throw Tensor(header, nameToken, $"unknown field \"{reader.GetString()}\" (an entry has exactly dtype, shape and data_offsets).");
            }
            if (dtype is null || elements < 0 || begin < 0)
            {
                var missing = new[] { dtype is null ? "dtype" : null, elements < 0 ? "shape" : null, begin < 0 ? "data_offsets" : null };
                throw Tensor(header, nameToken, $"its entry lacks {string.Join(" and ", missing.OfType<string>())}.");
            }

            // end − begin must be exactly Π shape × size(dtype); compare without overflowing.
            int size = dtype.Value.ElementSize();
            long length = end - begin;
            if (elements > length / size || elements * size != length)
            {
                string text = Encoding.UTF8.GetString(header[shapeStart..shapeEnd]).Trim(' ', ':');
                string needs = elements > long.MaxValue / size ? "more than 2^63 bytes" : $"{elements * size} bytes";
                throw Tensor(header, nameToken, $"data_offsets [{begin}, {end}] hold {length} bytes, but dtype {dtype} × shape {text} needs {needs}.");
            }
            return (dtype.Value, begin, end);
        }

        /// <summary>Reads [d0, d1, …]: each an integer in [0, int.MaxValue]. Returns the element count (long.MaxValue if it overflows).</summary>
        private readonly long ReadShape(ref Utf8JsonReader reader, ReadOnlySpan<byte> header, int nameToken, List<int>? shape)
        {
            if (Next(ref reader) != JsonTokenType.StartArray)
                throw Tensor(header, nameToken, $"shape must be an array of integers, got a JSON {Describe(reader.TokenType)}.");
            long elements = 1;
            bool hasZero = false;
            int rank = 0;
            while (Next(ref reader) != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long d))
                    throw Tensor(header, nameToken, $"shape dimension {rank} must be an integer, got {Token(ref reader, header)}.");
                if (d < 0 || d > int.MaxValue)
                    throw Tensor(header, nameToken, $"shape dimension {rank} is {d}; expected an integer in [0, {int.MaxValue}].");
                if (d == 0) hasZero = true;
                else elements = elements > long.MaxValue / d ? long.MaxValue : elements * d;
                shape?.Add((int)d);
                rank++;
            }
            return hasZero ? 0 : elements;
        }

        /// <summary>Reads [begin, end] with 0 ≤ begin ≤ end ≤ data length.</summary>
        private readonly (long Begin, long End) ReadOffsets(ref Utf8JsonReader reader, ReadOnlySpan<byte> header, int nameToken)
        {
            if (Next(ref reader) != JsonTokenType.StartArray)
                throw Tensor(header, nameToken, $"data_offsets must be an array [begin, end], got a JSON {Describe(reader.TokenType)}.");
            Span<long> offsets = stackalloc long[2];
            int n = 0;
            while (Next(ref reader) != JsonTokenType.EndArray)
            {
                if (n == 2) throw Tensor(header, nameToken, "data_offsets must have exactly two elements [begin, end], got more.");
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out offsets[n]) || offsets[n] < 0)
                    throw Tensor(header, nameToken, $"data_offsets[{n}] must be a non-negative integer, got {Token(ref reader, header)}.");
                n++;
            }
            if (n != 2) throw Tensor(header, nameToken, $"data_offsets must have exactly two elements [begin, end], got {n}.");
            long begin = offsets[0], end = offsets[1];
            if (begin > end) throw Tensor(header, nameToken, $"data_offsets [{begin}, {end}] end before they begin.");
            if (end > dataLength)
                throw Tensor(header, nameToken, $"data_offsets [{begin}, {end}] lie outside the data buffer, which has {dataLength} bytes.");
            return (begin, end);
        }

        /// <summary>Reads the "__metadata__" object of strings; pass 2 stores it (a repeated key keeps its last value).</summary>
        private void ReadMetadata(ref Utf8JsonReader reader, ReadOnlySpan<byte> header, Dictionary<string, string>? metadata)
        {
            if (Next(ref reader) != JsonTokenType.StartObject)
                throw Invalid(source, $"\"__metadata__\" must be an object of strings, got a JSON {Describe(reader.TokenType)}.");
            while (Next(ref reader) == JsonTokenType.PropertyName)
            {
                int keyToken = checked((int)reader.TokenStartIndex);
                Unescaped(ref reader); // checks the escapes
                string? key = metadata is null ? null : reader.GetString();
                if (Next(ref reader) != JsonTokenType.String)
                    throw Invalid(source, $"\"__metadata__\" values must be strings; the value of \"{NameAt(header, keyToken)}\" is a JSON {Describe(reader.TokenType)}.");
                Unescaped(ref reader);
                if (metadata is not null) metadata[key!] = reader.GetString()!;
            }
        }

        /// <summary>The current string token without escapes: the token's own bytes, or an unescaped copy in the scratch buffer.</summary>
        private ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader reader)
        {
            if (!reader.ValueIsEscaped) return reader.ValueSpan;
            int max = reader.ValueSpan.Length; // unescaping only shortens
            if (_scratch is null || _scratch.Length < max) _scratch = new byte[max];
            try
            {
                return _scratch.AsSpan(0, reader.CopyString(_scratch));
            }
            catch (InvalidOperationException e) // e.g. "\ud800": a lone surrogate
            {
                throw Invalid(source, $"the header has an invalid escape in the string at position {reader.TokenStartIndex}: {e.Message}", e);
            }
        }

        private readonly InvalidDataException Tensor(ReadOnlySpan<byte> header, int nameToken, string problem) =>
            Invalid(source, $"tensor '{NameAt(header, nameToken)}': {problem}");
    }

    // ---- checks across entries (pass 1) ------------------------------------------------------------

    private static void CheckUniqueNames(ReadOnlySpan<byte> header, Span<Extent> extents, string source)
    {
        extents.Sort(static (a, b) => a.NameHash.CompareTo(b.NameHash));
        for (int i = 0; i < extents.Length; i++)
            for (int j = i + 1; j < extents.Length && extents[j].NameHash == extents[i].NameHash; j++)
            {
                string name = NameAt(header, extents[i].NameToken);
                if (name == NameAt(header, extents[j].NameToken))
                    throw Invalid(source, $"tensor '{name}' appears twice in the header (names must be unique).");
            }
    }

    private static void CheckTiling(ReadOnlySpan<byte> header, Span<Extent> extents, long dataLength, string source)
    {
        extents.Sort(static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        for (int i = 0; i < extents.Length; i++)
        {
            var e = extents[i];
            if (e.Begin < position)
            {
                var previous = extents[i - 1];
                throw Invalid(source, $"tensor '{NameAt(header, e.NameToken)}': data_offsets [{e.Begin}, {e.End}] overlap those of tensor '{NameAt(header, previous.NameToken)}' [{previous.Begin}, {previous.End}].");
            }
            if (e.Begin > position)
                throw Invalid(source, $"tensor '{NameAt(header, e.NameToken)}': data_offsets [{e.Begin}, {e.End}] leave a {e.Begin - position}-byte gap at {position} of the data buffer (tensors must be stored contiguously).");
            position = e.End;
        }
        if (position != dataLength)
            throw Invalid(source, $"the tensors end at byte {position} of the data buffer, but it has {dataLength} bytes ({dataLength - position} bytes after the last tensor).");
    }

    // ---- helpers -----------------------------------------------------------------------------------

    /// <summary>Reads the next token; the end of the input inside the header is reported by the reader as a JsonException.</summary>
    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new JsonException("the header ends before its closing '}'.");
        return reader.TokenType;
    }

    private static int Hash(ReadOnlySpan<byte> name)
    {
        var hash = new HashCode(); // seeded randomly per process: names cannot be chosen to collide
        hash.AddBytes(name);
        return hash.ToHashCode();
    }

    /// <summary>The name whose opening quote is at <paramref name="token"/> (pass 1 has already checked its escapes).</summary>
    private static string NameAt(ReadOnlySpan<byte> header, int token)
    {
        var reader = new Utf8JsonReader(header[token..]);
        reader.Read();
        return reader.GetString()!;
    }

    /// <summary>The current token's JSON text, shortened, for messages.</summary>
    private static string Token(ref Utf8JsonReader reader, ReadOnlySpan<byte> header)
    {
        if (reader.TokenType is JsonTokenType.StartArray or JsonTokenType.StartObject) return $"a JSON {Describe(reader.TokenType)}";
        var text = header.Slice((int)reader.TokenStartIndex, Math.Min((int)(reader.BytesConsumed - reader.TokenStartIndex), 40));
        return Encoding.UTF8.GetString(text);
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    internal static InvalidDataException Invalid(string source, string problem, Exception? inner = null) =>
        new($"Invalid safetensors file {source}: {problem}", inner);
}
