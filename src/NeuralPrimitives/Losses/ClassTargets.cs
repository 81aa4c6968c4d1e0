// Class-index targets, shared by CrossEntropyLoss and NllLoss.
//
// Shapes:   scores [..., C] (the class axis LAST), targets [...] = the scores' shape without its last axis,
//           optional class weights w [C]. PyTorch puts the class axis at position 1 ([N, C, d1, …] with
//           targets [N, d1, …]); for [N, C] the two agree, for sequences [B, T, C] ours is the natural layout
//           of a Linear head's output (PyTorch needs logits.permute(0, 2, 1) or a reshape to [B·T, C]).
// Targets:  each y_n ∈ [0, C), or ignoreIndex (the row contributes nothing: loss 0, gradient 0).
// Weighted mean denominator:  D = Σ_{n : y_n ≠ ignoreIndex} w_{y_n}   (the count of kept rows when w is absent)
namespace NeuralPrimitives;

internal static class ClassTargets
{
    /// <summary>Checks that the scores <paramref name="input"/> are [..., C] with C ≥ 1 and that the class weights (if any) have C entries; returns (rows, C).</summary>
    public static (int Rows, int Classes) CheckScores<T>(Tensor<T> input, Buffer<T>? weight) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.MinRank(input, 2, nameof(input));
        var (rows, classes) = Shapes.RowsAndLast(input.Lengths);
        if (classes < 1 || rows < 1)
            throw new ArgumentException($"input must have at least one row and one class, got shape {Shapes.Format(input.Lengths)}.", nameof(input));
        if (weight is not null && weight.Data.Length != classes)
            throw new ArgumentException($"input has {classes} classes (its last dimension) but weight has {weight.Data.Length} entries: expected one weight per class.", nameof(input));
        return (rows, classes);
    }

    /// <summary>
    /// Checks the scores (<see cref="CheckScores"/>), the targets' shape and every target (a class in [0, C) or
    /// <paramref name="ignoreIndex"/>), before anything is computed; returns (rows, C, the weighted-mean denominator
    /// D = Σ w_y over the kept targets).
    /// </summary>
    /// <exception cref="ArgumentException">The input is not [..., C], the weight length is not C, or the target shape is not the input's without its last axis.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of range; the message gives its position and value.</exception>
    public static (int Rows, int Classes, T Denominator) Check<T>(Tensor<T> input, Tensor<int> target, Buffer<T>? weightBuffer, int ignoreIndex)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (rows, classes) = CheckScores(input, weightBuffer);
        ArgumentNullException.ThrowIfNull(target);
        ReadOnlySpan<T> weight = weightBuffer?.Data;
        if (!target.Lengths.SequenceEqual(input.Lengths[..^1]))
            throw new ArgumentException(
                $"target has the wrong shape: expected {Shapes.Format(input.Lengths[..^1])} (the input {Shapes.Format(input.Lengths)} without its class axis, which is last), got {Shapes.Format(target.Lengths)}.",
                nameof(target));
        var y = target.AsReadOnlySpan();
        T denominator = T.Zero;
        for (int n = 0; n < y.Length; n++)
        {
            int c = y[n];
            if (c == ignoreIndex) continue;
            if ((uint)c >= (uint)classes) throw OutOfRange(target, n, c, classes, ignoreIndex);
            denominator += weight.IsEmpty ? T.One : weight[c];
        }
        return (rows, classes, denominator);
    }

    private static ArgumentOutOfRangeException OutOfRange(Tensor<int> target, int flat, int value, int classes, int ignoreIndex)
    {
        var position = new nint[target.Rank];
        for (int d = target.Rank - 1, rest = flat; d >= 0; d--)
        {
            position[d] = rest % target.Lengths[d];
            rest /= (int)target.Lengths[d];
        }
        return new ArgumentOutOfRangeException(nameof(target), value,
            $"target{Shapes.Format(position)} (flat index {flat}) is {value}: expected a class in [0, {classes}) or ignoreIndex {ignoreIndex}.");
    }
}
