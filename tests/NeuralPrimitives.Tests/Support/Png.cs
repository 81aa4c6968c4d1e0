using System.Buffers.Binary;
using System.Text;

namespace NeuralPrimitives.Tests.Support;

/// <summary>Checks that a file the samples wrote is a real PNG image.</summary>
public static class Png
{
    /// <summary>
    /// Asserts the 8-byte PNG signature, an IHDR chunk first with a width and height above 100 pixels, IEND last,
    /// and that SkiaSharp decodes the file to an image of that width.
    /// </summary>
    public static void AssertValid(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(bytes, 12, 4));
        int width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20));
        Assert.True(width > 100 && height > 100, $"{path}: {width}×{height}");
        Assert.Equal("IEND", Encoding.ASCII.GetString(bytes, bytes.Length - 8, 4));
        using var bitmap = SkiaSharp.SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal(width, bitmap.Width);
    }
}
