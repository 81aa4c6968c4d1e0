// The README's training step as one object: an LSTM language model (embedding → LSTM → linear head), the
// cross-entropy loss, the backward pass in reverse order, clipping the gradient norm to 1, an AdamW step and
// zeroing the gradients. Shared as source (a linked file) by the tests, which prove that the step allocates
// nothing after warm-up, and the benchmarks, which time it as `lstm_lm_step` — so both run the step the
// README shows.
namespace NeuralPrimitives.Shared;

/// <summary>Embedding → Lstm → Linear with cross-entropy, clipping and AdamW: the README's training step.</summary>
internal sealed class LstmLanguageModel
{
    private readonly Embedding<float> _embed;
    private readonly Lstm<float> _lstm;
    private readonly Linear<float> _head;
    private readonly CrossEntropyLoss<float> _lossFn = new();
    private readonly Parameter<float>[] _parameters;
    private readonly AdamW<float> _optimizer;

    /// <summary>The three modules, initialised from <paramref name="rng"/> in this order, and AdamW with <paramref name="lr"/>.</summary>
    public LstmLanguageModel(Rng rng, int vocab, int embedDim, int hiddenSize, double lr)
    {
        _embed = new Embedding<float>(vocab, embedDim, rng: rng);
        _lstm = new Lstm<float>(embedDim, hiddenSize, rng: rng);
        _head = new Linear<float>(hiddenSize, vocab, rng: rng);
        _parameters = new ModuleDict<float> { ["embed"] = _embed, ["lstm"] = _lstm, ["head"] = _head }.Parameters().ToArray();
        _optimizer = new AdamW<float>(_parameters, lr: lr);
    }

    /// <summary>One training step on token indices [T, B] and their next tokens; returns the loss before the update.</summary>
    public float Step(Tensor<int> inputs, Tensor<int> targets)
    {
        var (hidden, _, _) = _lstm.Forward(_embed.Forward(inputs));
        float loss = _lossFn.Forward(_head.Forward(hidden), targets);
        _embed.Backward(_lstm.Backward(_head.Backward(_lossFn.Backward())).DInput);
        GradientClipping.ClipGradNorm(_parameters, maxNorm: 1.0);
        _optimizer.Step();
        _optimizer.ZeroGrad();
        return loss;
    }
}
