// The first two lines of the update of Sgd, Adagrad, RmsProp and Adam (each file's header), for a parameter θ
// with gradient g, weight decay λ:
//     g ← −g if maximize
//     g ← g + λ·θ                              (λ ≠ 0: L2 weight decay, the gradient of ½λ‖θ‖² added to the loss)
// AdamW's decay is decoupled (it scales θ instead, AdamW.cs), so it builds these terms with λ = 0.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>The maximize sign and the L2 weight decay of one optimiser step, in <typeparamref name="T"/>, applied as a kernel loads θ and g.</summary>
/// <typeparam name="T">Element type.</typeparam>
internal readonly struct GradientTerms<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public readonly T Sign, WeightDecay;
    public readonly bool HasWeightDecay;

    /// <summary>The terms of a group: its <c>maximize</c> flag and the L2 weight decay λ (0: none).</summary>
    public GradientTerms(ParamGroup g, int groupIndex, double weightDecay)
    {
        Sign = g.Flag(Hyper.Maximize, groupIndex) ? -T.One : T.One;
        WeightDecay = T.CreateTruncating(weightDecay);
        HasWeightDecay = weightDecay != 0;
    }

    private GradientTerms(in GradientTerms<T> terms)
    {
        this = terms;
        HasWeightDecay = false;
    }

    /// <summary>The same sign without the weight decay.</summary>
    public GradientTerms<T> WithoutWeightDecay() => new(this);

    /// <summary>Loads θ (<paramref name="theta"/>) and g at element <paramref name="i"/> of one lane and returns g ← ±g + λθ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TL Gradient<TL>(ref T p, ref T grad, int i, out TL theta) where TL : struct, ILane<TL, T>
    {
        theta = TL.Load(ref p, i);
        var g = TL.Broadcast(Sign) * TL.Load(ref grad, i);
        if (HasWeightDecay) g += TL.Broadcast(WeightDecay) * theta;
        return g;
    }
}
