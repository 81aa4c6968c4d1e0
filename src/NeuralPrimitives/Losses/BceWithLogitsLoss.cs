// Binary cross-entropy on logits (PyTorch's nn.BCEWithLogitsLoss): a sigmoid and the binary
// cross-entropy in one numerically stable expression.
//
// Shapes:   input x (logits), target t ∈ [0, 1]: the same shape (any rank ≥ 1), l: that shape.
//           weight w and posWeight p broadcast over x from the right (each matches x's trailing
//           dimensions: [C] per class, or x's full shape); absent = 1.
// Forward:  l_i = −w_i·[p_c·t_i·log σ(x_i) + (1 − t_i)·log(1 − σ(x_i))]          (c = the class of element i)
//             with −log σ(x) = softplus(−x) and −log(1 − σ(x)) = softplus(x):
//           l_i = w_i·[p_c·t_i·softplus(−x_i) + (1 − t_i)·softplus(x_i)]
//           softplus(±x) = max(±x, 0) + log1p(e^(−|x|))    (no overflow; a sum of non-negative terms, so both
//           tails keep their relative accuracy: x = −40, t = 0 gives e^(−40), where PyTorch's form, which
//           subtracts, gives 0)
//           L = mean (default), sum, or none of l (ElementwiseLoss.cs)
// Backward: ∂l_i/∂x_i = w_i·[(1 − t_i)·σ(x_i) − p_c·t_i·σ(−x_i)]                  (= w_i·(σ(x_i) − t_i) when p = 1)
//           σ(|x|) = 1/(1 + e),  σ(−|x|) = e/(1 + e),  e = e^(−|x|)
namespace NeuralPrimitives;

/// <summary>
/// Binary cross-entropy of <c>sigmoid(input)</c> against targets in [0, 1], computed from the logits in a stable form
/// (PyTorch's <c>nn.BCEWithLogitsLoss</c>), with optional element weights and positive-class weights.
/// </summary>
/// <remarks>Buffers (in the state_dict, as in PyTorch): <c>weight</c> and <c>pos_weight</c>, when given.</remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class BceWithLogitsLoss<T> : ElementwiseLoss<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Buffer<T>? _weight, _posWeight;

    /// <summary>Creates the loss.</summary>
    /// <param name="weight">Rescales each element's loss; broadcast over the input from the right (e.g. [C], or the input's shape).</param>
    /// <param name="reduction">Mean (default), Sum or None.</param>
    /// <param name="posWeight">
    /// Weight of the positive term, broadcast over the input from the right, usually [C] (one per class):
    /// p &gt; 1 raises recall, p &lt; 1 precision (PyTorch's <c>pos_weight</c>; e.g. negatives/positives of a class).
    /// </param>
    public BceWithLogitsLoss(Tensor<T>? weight = null, Reduction reduction = Reduction.Mean, Tensor<T>? posWeight = null) : base(reduction)
    {
        _weight = RegisterWeight("weight", weight, nameof(weight), perClass: false);
        _posWeight = RegisterWeight("pos_weight", posWeight, nameof(posWeight), perClass: false);
    }

    /// <summary>The element weights (a view of the <c>weight</c> buffer), or null.</summary>
    public Tensor<T>? Weight => _weight?.Value;

    /// <summary>The positive-class weights (a view of the <c>pos_weight</c> buffer), or null.</summary>
    public Tensor<T>? PosWeight => _posWeight?.Value;

    private protected override void CheckInput(Tensor<T> input)
    {
        CheckBroadcast(input, _weight, "weight");
        CheckBroadcast(input, _posWeight, "posWeight");
    }

    /// <summary>A weight broadcasts when its shape equals the input's trailing dimensions; element i then uses weight[i mod length].</summary>
    private static void CheckBroadcast(Tensor<T> input, Buffer<T>? w, string name)
    {
        if (w is null) return;
        var x = input.Lengths;
        var s = w.Shape;
        bool matches = s.Length <= x.Length;
        for (int d = 1; matches && d <= s.Length; d++) matches = x[^d] == s[^d];
        if (!matches)
            throw new ArgumentException($"input of shape {Shapes.Format(x)} does not match {name} of shape {Shapes.Format(s)}: {name} must equal the input's trailing dimensions.", nameof(input));
    }

    private static T At(Buffer<T>? w, int index) => w is null ? T.One : w.Data[index % w.Data.Length];

    private protected override T Value(T input, T target, int index)
    {
        T lp = Log1P(T.Exp(-T.Abs(input)));                          // log1p(e^(−|x|))
        T softplusMinus = T.Max(-input, T.Zero) + lp, softplus = T.Max(input, T.Zero) + lp;
        return At(_weight, index) * (At(_posWeight, index) * target * softplusMinus + (T.One - target) * softplus);
    }

    private protected override T Derivative(T input, T target, int index)
    {
        T e = T.Exp(-T.Abs(input));
        T sigmoidAbs = T.One / (T.One + e), sigmoidMinusAbs = e / (T.One + e); // σ(|x|), σ(−|x|)
        T sigmoid = input >= T.Zero ? sigmoidAbs : sigmoidMinusAbs, sigmoidMinus = input >= T.Zero ? sigmoidMinusAbs : sigmoidAbs;
        return At(_weight, index) * ((T.One - target) * sigmoid - At(_posWeight, index) * target * sigmoidMinus);
    }

    /// <summary>log(1 + y) accurate for small y: log(u)·y/(u − 1) with u = 1 + y cancels u's rounding error (Goldberg).</summary>
    private static T Log1P(T y)
    {
        T u = T.One + y;
        return u == T.One ? y : T.Log(u) * y / (u - T.One);
    }
}
