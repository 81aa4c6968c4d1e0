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
    /// <summary>Checks that scores are [..., C] with C ≥ 1 and returns (rows, C).</summary>
    public static (int Rows, int Classes) CheckScores<T>(Tensor<T> input, string name)
    {
        Guard.MinRank(input, 2, name);
        var (rows, classes) = Shapes.RowsAndLast(input.Lengths);
        if (classes < 1 || rows < 1)
            throw new ArgumentException($"{name} must have at least one row and one class, got shape {Shapes.Format(input.Lengths)}.", name);
        return (rows, classes);
    }

    /// <summary>Checks that the class weights (if any) have one entry per class.</summary>
    public static void CheckWeight<T>(Buffer<T>? weight, int classes, string inputName) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (weight is not null && weight.Data.Length != classes)
            throw new ArgumentException($"{inputName} has {classes} classes (its last dimension) but weight has {weight.Data.Length} entries: expected one weight per class.", inputName);
    }

    /// <summary>
    /// Checks the targets' shape and every value (a class in [0, C) or <paramref name="ignoreIndex"/>), before anything is
    /// computed, and returns the weighted-mean denominator D = Σ w_y over the kept targets.
    /// </summary>
    /// <exception cref="ArgumentException">The target shape is not the input's without its last axis.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of range; the message gives its position and value.</exception>
    public static T Check<T>(Tensor<T> input, Tensor<int> target, int classes, int ignoreIndex, ReadOnlySpan<T> weight)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(target);
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
        return denominator;
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
