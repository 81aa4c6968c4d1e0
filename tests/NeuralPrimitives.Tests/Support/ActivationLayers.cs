namespace NeuralPrimitives.Tests.Support;

/// <summary>The element-wise activation layers by their PyTorch names, for the tests that run over all of them.</summary>
public static class ActivationLayers
{
    /// <summary>relu, tanh, sigmoid, silu, gelu (exact) and gelu_tanh.</summary>
    public static readonly string[] Names = ["relu", "tanh", "sigmoid", "silu", "gelu", "gelu_tanh"];

    /// <summary>A new layer of the activation named <paramref name="name"/> (one of <see cref="Names"/>).</summary>
    public static FunctionLayer<T> Create<T>(string name) where T : unmanaged, IBinaryFloatingPointIeee754<T> => name switch
    {
        "relu" => new Relu<T>(),
        "tanh" => new Tanh<T>(),
        "sigmoid" => new Sigmoid<T>(),
        "silu" => new Silu<T>(),
        "gelu" => new Gelu<T>(),
        "gelu_tanh" => new Gelu<T>(GeluApproximation.Tanh),
        _ => throw new ArgumentException($"unknown activation '{name}'", nameof(name)),
    };
}
