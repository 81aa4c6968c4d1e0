namespace NeuralPrimitives.Tests.Support;

/// <summary>
/// Test traits. <see cref="Long"/> marks the learning runs and the L = 8192 attention case: seconds each normally,
/// minutes under coverage instrumentation or on the scalar fallback. Every test, these included, runs in the README's
/// <c>dotnet test</c>; CI's coverage pass and its SIMD fallback reruns leave these out (<c>Category!=Long</c>): the code
/// they exercise is covered by the unit tests of each piece.
/// </summary>
public static class TestCategories
{
    /// <summary>The trait name.</summary>
    public const string Category = "Category";

    /// <summary>A long-running test.</summary>
    public const string Long = "Long";
}
