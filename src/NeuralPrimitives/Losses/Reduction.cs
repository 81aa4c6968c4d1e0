// How a loss turns its per-element losses l_i into the one number it returns (PyTorch's `reduction=`).
//
//   Mean       L = Σ_i l_i / D    D = the element count; for CrossEntropyLoss / NllLoss with class indices,
//                                 the sum of the non-ignored targets' class weights (PyTorch's weighted mean)
//   Sum        L = Σ_i l_i
//   None       no reduction: the l_i are the result (Loss.Unreduced); Forward returns their sum
//   BatchMean  L = Σ_i l_i / N    N = the input's first dimension (KlDivLoss only: its mathematically correct mean)
namespace NeuralPrimitives;

/// <summary>How a loss reduces its per-element losses (PyTorch's <c>reduction</c> argument).</summary>
public enum Reduction
{
    /// <summary>The mean (PyTorch's default <c>'mean'</c>); weighted by the target classes' weights where a loss has class weights.</summary>
    Mean,

    /// <summary>The sum (<c>'sum'</c>).</summary>
    Sum,

    /// <summary>
    /// No reduction (<c>'none'</c>): the per-element losses are in <see cref="Loss{T}.Unreduced"/>, <c>Forward</c>
    /// returns their sum, and <see cref="Loss{T}.Backward(Tensor{T})"/> takes one upstream gradient per element.
    /// </summary>
    None,

    /// <summary>The sum divided by the input's first dimension (<c>'batchmean'</c>); only <see cref="KlDivLoss{T}"/> accepts it.</summary>
    BatchMean,
}
