using FsCheck.Xunit;

namespace NeuralPrimitives.Tests.Support;

/// <summary>[Property] with the shared arbitraries and a bounded number of cases.</summary>
public sealed class NpPropertyAttribute : PropertyAttribute
{
    public NpPropertyAttribute()
    {
        Arbitrary = [typeof(Arbitraries)];
        MaxTest = 40;
        var replay = Environment.GetEnvironmentVariable("NP_FSCHECK_REPLAY");
        if (!string.IsNullOrWhiteSpace(replay)) Replay = replay;
    }
}
