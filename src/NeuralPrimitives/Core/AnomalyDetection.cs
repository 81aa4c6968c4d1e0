// Anomaly detection (PyTorch's torch.autograd.set_detect_anomaly): an opt-in check, after every
// training Forward and Backward, that the module's result and the gradients it accumulated are
// finite. The first module to produce a NaN or ±∞ throws NonFiniteValueException naming itself and
// the tensor, so the source of a diverging run is found where it starts, not at the loss. Off by
// default: the check reads every output, which costs about as much as an element-wise layer.
namespace NeuralPrimitives;

/// <summary>Opt-in detection of non-finite outputs and gradients in training passes (PyTorch's <c>set_detect_anomaly</c>).</summary>
public static class AnomalyDetection
{
    private static volatile bool s_enabled;

    /// <summary>
    /// When true, every module's training <c>Forward</c> checks its output, and every <c>Backward</c> checks its
    /// returned gradient and the parameter gradients it accumulated, throwing <see cref="NonFiniteValueException"/>
    /// at the first NaN or ±∞. Process-wide; off by default.
    /// </summary>
    public static bool Enabled { get => s_enabled; set => s_enabled = value; }

    /// <summary>Throws <see cref="NonFiniteValueException"/> if <paramref name="values"/> holds a NaN or ±∞.</summary>
    internal static void Check<T>(ReadOnlySpan<T> values, string module, string tensor, string pass) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
            if (!T.IsFinite(values[i]))
                throw new NonFiniteValueException(module, tensor, pass, i, double.CreateTruncating(values[i]));
    }
}

/// <summary>A training pass produced a NaN or ±∞ while <see cref="AnomalyDetection.Enabled"/> was set.</summary>
public sealed class NonFiniteValueException : ArithmeticException
{
    internal NonFiniteValueException(string module, string tensor, string pass, int index, double value)
        : base($"{module}.{pass} produced a non-finite value in {tensor}: {value} at flat index {index} (anomaly detection is on).")
    {
        Module = module;
        Tensor = tensor;
        Pass = pass;
        Index = index;
    }

    /// <summary>The module's type name, e.g. <c>Linear</c>.</summary>
    public string Module { get; }

    /// <summary>The tensor: <c>output</c>, <c>dInput</c>, or a parameter's gradient such as <c>weight.grad</c>.</summary>
    public string Tensor { get; }

    /// <summary><c>Forward</c> or <c>Backward</c>.</summary>
    public string Pass { get; }

    /// <summary>Flat index of the first non-finite element.</summary>
    public int Index { get; }
}
