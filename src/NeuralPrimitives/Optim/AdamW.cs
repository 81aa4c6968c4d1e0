// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as PyTorch 1.13's torch.optim.AdamW
// computes it (single-tensor path). The kernel is Adam's (Adam.cs); only the decay differs.
//
// For each parameter θ with gradient g; γ, (β1, β2), ε, weight decay λ; t = the step count after incrementing:
//     g ← −g if maximize
//     θ ← θ·(1 − γλ)                           decoupled: the decay does not pass through m and v
//     m ← β1·m + (1 − β1)·g
//     v ← β2·v + (1 − β2)·g²
//     v̂ ← max(v̂, v)                            AMSGrad only; then v̂ replaces v below
//     θ ← θ − (γ / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
// Adam's L2 decay instead adds λθ to g, so it is rescaled by 1/√v like the gradient: parameters with
// large gradients are decayed less. AdamW shrinks every weight by the same factor 1 − γλ per step.
// State: step, exp_avg, exp_avg_sq (+ max_exp_avg_sq). Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
// weight_decay 1e-2 (Adam's is 0), amsgrad false, maximize false.
//
// Row-sparse gradients: SparseAdam's lazy rule (Adam.cs); the decay θ_r ← θ_r·(1 − γλ) applies to the
// touched rows only, so rows that do not occur are neither updated nor decayed.
namespace NeuralPrimitives;

/// <summary>
/// AdamW: Adam with decoupled weight decay (PyTorch's <c>torch.optim.AdamW</c>, same update and defaults, weight decay 1e-2).
/// Row-sparse gradients follow SparseAdam's lazy rule, with the decay applied to the touched rows (see <see cref="Adam{T}"/>).
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public sealed class AdamW<T> : Adam<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>AdamW over one list of parameters.</summary>
    /// <param name="parameters">The parameters to optimise; none twice, at least one.</param>
    /// <param name="lr">Learning rate γ &gt; 0.</param>
    /// <param name="betas">(β1, β2), each in [0, 1); null for PyTorch's (0.9, 0.999).</param>
    /// <param name="eps">ε &gt; 0 added to the denominator.</param>
    /// <param name="weightDecay">Decoupled weight decay λ ≥ 0: θ ← θ·(1 − γλ) each step.</param>
    /// <param name="amsgrad">Use the running maximum of the second moment (AMSGrad).</param>
    /// <param name="maximize">Ascend instead of descend.</param>
    /// <exception cref="ArgumentException">A parameter is null or given twice, or the list is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public AdamW(IEnumerable<Parameter<T>> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null,
        double eps = 1e-8, double weightDecay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(SingleGroup(parameters), Defaults(lr, betas, eps, weightDecay, amsgrad, maximize), nameof(parameters), true, decoupled: true)
    {
    }

    /// <summary>AdamW over parameter groups (e.g. nanoGPT's: weights decayed, biases and norms not); a group's own hyperparameters override these defaults.</summary>
    /// <param name="paramGroups">The groups.</param>
    /// <param name="lr">Default learning rate γ &gt; 0.</param>
    /// <param name="betas">Default (β1, β2); null for (0.9, 0.999).</param>
    /// <param name="eps">Default ε &gt; 0.</param>
    /// <param name="weightDecay">Default decoupled weight decay λ ≥ 0.</param>
    /// <param name="amsgrad">Default for AMSGrad.</param>
    /// <param name="maximize">Default for ascending.</param>
    /// <exception cref="ArgumentException">A parameter is given twice, there are no parameters, or a group sets a hyperparameter AdamW does not have.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range or not finite.</exception>
    public AdamW(IEnumerable<ParamGroup<T>> paramGroups, double lr = 1e-3, (double Beta1, double Beta2)? betas = null,
        double eps = 1e-8, double weightDecay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(paramGroups, Defaults(lr, betas, eps, weightDecay, amsgrad, maximize), nameof(paramGroups), false, decoupled: true)
    {
    }
}
