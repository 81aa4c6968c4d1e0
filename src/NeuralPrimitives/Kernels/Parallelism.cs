// The library-wide degree of parallelism (PyTorch's torch.set_num_threads / get_num_threads).
// Kernels split large problems into at most this many parts; small problems stay on the
// calling thread because handing work to another core costs more than it saves.
namespace NeuralPrimitives;

/// <summary>How many threads the kernels may use (like <c>torch.set_num_threads</c>).</summary>
public static class Parallelism
{
    private static int _numThreads = Environment.ProcessorCount;

    /// <summary>Maximum number of threads a kernel may use; defaults to the processor count. Must be ≥ 1.</summary>
    public static int NumThreads
    {
        get => _numThreads;
        set
        {
            Guard.Positive(value, nameof(NumThreads));
            _numThreads = value;
        }
    }
}
