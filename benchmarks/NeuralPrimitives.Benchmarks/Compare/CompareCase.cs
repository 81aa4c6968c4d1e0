namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// One tracked shape of the side-by-side comparison: <see cref="Setup"/> builds the inputs once and
/// returns the action that gets timed. The name is shared with the PyTorch and ONNX Runtime peers.
/// </summary>
public sealed record CompareCase(string Name, Func<Action> Setup);

/// <summary>A group of comparison cases (one per area: GEMM, embeddings, recurrent, ...). Discovered by reflection.</summary>
public interface ICompareSuite
{
    /// <summary>The cases of this suite, in display order.</summary>
    IEnumerable<CompareCase> Cases();
}
