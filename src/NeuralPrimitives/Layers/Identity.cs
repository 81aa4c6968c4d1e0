// Identity: a placeholder layer (PyTorch's nn.Identity), e.g. to switch a block off in a Sequential
// without changing its indices (and so its state_dict names).
//
// Forward:  y = x      (returns the input tensor itself, as PyTorch does)
// Backward: dx = dy    (returns dOutput itself)
namespace NeuralPrimitives;

/// <summary>A layer that returns its input unchanged (PyTorch's <c>nn.Identity</c>); no parameters.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Identity<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Returns <paramref name="input"/> itself (no copy).</summary>
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        ArgumentNullException.ThrowIfNull(input);
        pass.Complete();
        return input;
    }

    /// <summary>Returns <paramref name="dOutput"/> itself (no copy).</summary>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        ArgumentNullException.ThrowIfNull(dOutput);
        pass.Complete();
        return dOutput;
    }

    /// <summary>Returns a copy of <paramref name="input"/> (Infer always returns a new tensor).</summary>
    public Tensor<T> Infer(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Tensor.Create(input.ToArray(), input.Lengths);
    }
}
