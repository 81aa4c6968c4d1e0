using System.Runtime.Intrinsics;
using Xunit.Abstractions;

namespace NeuralPrimitives.Tests.Kernels;

/// <summary>
/// CI reruns this namespace with AVX-512 off, AVX2 off and all hardware intrinsics off so that the
/// Vector256, Vector128 and scalar fallbacks are exercised. This test proves the switches reach the
/// test process: if they did not, the reruns would silently test the AVX-512 path again.
/// Note: on .NET 10 the AVX-512 switch is DOTNET_EnableAVX512=0; the older DOTNET_EnableAVX512F=0
/// is ignored (measured: Vector512.IsHardwareAccelerated stays true), so CI sets both.
/// </summary>
public class SimdEnvironmentTests(ITestOutputHelper output)
{
    [Fact]
    public void EnvironmentSwitchesSelectTheExpectedPath()
    {
        output.WriteLine($"Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, Vector128 {Vector128.IsHardwareAccelerated}, Vector<float>.Count {Vector<float>.Count}");
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0")
            Assert.False(Vector512.IsHardwareAccelerated);
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
            Assert.False(Vector256.IsHardwareAccelerated);
        }
        if (Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
            Assert.False(Vector256.IsHardwareAccelerated);
            Assert.False(Vector128.IsHardwareAccelerated);
        }
    }
}
