// Generation: greedy decoding and sampling, one token at a time, as a stream.
//
//   state ← Prefill(prompt)         z ← the logits after the last prompt token         (prompt: ≥ 1 token)
//   for t = 1 … maxNewTokens:
//       greedy:    y_t = argmax_v z_v                    (ties: the lowest id; SamplingOptions.Greedy)
//       sampling:  y_t ~ p̃(· | z, seen)                 (Sampling.cs: repetition penalty, temperature, top-k,
//                                                         softmax, top-p, one uniform draw from the Rng)
//       yield y_t                                        (the caller has it now: streaming)
//       stop after y_t = endToken (the end token is yielded) or t = maxNewTokens
//       z ← NextLogits(y_t, state)                       (one step of the model, run when the next token is asked for)
//   seen = the set of tokens in the prompt and in y_1 … y_t (what the repetition penalty looks at).
//
// Greedy picks the single most likely next token at every step; it is deterministic but not the most likely
// sequence (beam search, BeamSearch.cs, searches for that). Sampling with the same seed (a new Rng(seed))
// reproduces its tokens exactly. Generate, Stream and StreamAsync run the same loop: Generate collects it,
// Stream yields each token as soon as it is chosen, StreamAsync also runs each model step on the thread pool
// (so a UI or web request thread is not blocked) and checks its CancellationToken between tokens.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>
/// Greedy decoding and sampling (temperature, top-k, top-p, repetition penalty) from any
/// <see cref="ILanguageModel{T, TState}"/>, collected (<see cref="Generate"/>) or streamed token by token
/// (<see cref="Stream"/>, <see cref="StreamAsync"/>).
/// </summary>
/// <remarks>
/// Only the model's thread-safe inference path is used and the state lives in the call, so several generations
/// may run on one model at once (give each its own <see cref="Rng"/>). Generated tokens exclude the prompt.
/// </remarks>
public static class Generation
{
    /// <summary>Generates up to <paramref name="maxNewTokens"/> tokens after <paramref name="prompt"/> and returns them.</summary>
    /// <param name="model">The language model.</param>
    /// <param name="prompt">The context to continue, at least one token, each in [0, V) (start with a beginning-of-text token if the model has one).</param>
    /// <param name="maxNewTokens">Most tokens to generate (≥ 1).</param>
    /// <param name="sampling">How to pick each token: <see cref="SamplingOptions.Greedy"/>, or a temperature with top-k / top-p / repetition penalty.</param>
    /// <param name="endToken">Stop after generating this token (it is included in the result); null: always generate <paramref name="maxNewTokens"/>.</param>
    /// <param name="rng">Random source of the draws; <see cref="Rng.Default"/> when null. Pass <c>new Rng(seed)</c> to reproduce a sample.</param>
    /// <returns>The generated tokens, the end token included when it was produced.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A prompt token or <paramref name="endToken"/> outside [0, V), or <paramref name="maxNewTokens"/> &lt; 1.</exception>
    public static int[] Generate<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> prompt, int maxNewTokens,
        SamplingOptions sampling, int? endToken = null, Rng? rng = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var loop = new GenerationLoop<T, TState>(Check(model, prompt, maxNewTokens, sampling, endToken, rng));
        var tokens = new List<int>();
        while (loop.TryNext(out int token)) tokens.Add(token);
        return [.. tokens];
    }

    /// <summary>Greedy decoding: at every step the most likely token (ties: the lowest id). Same as <see cref="Generate"/> with <see cref="SamplingOptions.Greedy"/>.</summary>
    /// <param name="model">The language model.</param>
    /// <param name="prompt">The context to continue (≥ 1 token).</param>
    /// <param name="maxNewTokens">Most tokens to generate (≥ 1).</param>
    /// <param name="endToken">Stop after generating this token (included); null: never stop early.</param>
    /// <returns>The generated tokens.</returns>
    public static int[] Greedy<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> prompt, int maxNewTokens, int? endToken = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Generate(model, prompt, maxNewTokens, SamplingOptions.Greedy, endToken);

    /// <summary>
    /// As <see cref="Generate"/>, but yields each token as soon as it is chosen, so a console or a page can show the
    /// text while it is produced. The arguments are checked at once; the model runs while the sequence is enumerated
    /// (each enumeration generates anew, continuing the same <paramref name="rng"/>).
    /// </summary>
    /// <param name="model">The language model.</param>
    /// <param name="prompt">The context to continue (≥ 1 token).</param>
    /// <param name="maxNewTokens">Most tokens to generate (≥ 1).</param>
    /// <param name="sampling">How to pick each token.</param>
    /// <param name="endToken">Stop after generating this token (it is yielded); null: never stop early.</param>
    /// <param name="rng">Random source; <see cref="Rng.Default"/> when null.</param>
    /// <returns>The generated tokens, lazily.</returns>
    public static IEnumerable<int> Stream<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> prompt, int maxNewTokens,
        SamplingOptions sampling, int? endToken = null, Rng? rng = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var request = Check(model, prompt, maxNewTokens, sampling, endToken, rng);
        return Run(request);

        static IEnumerable<int> Run(GenerationRequest<T, TState> request)
        {
            var loop = new GenerationLoop<T, TState>(request);
            while (loop.TryNext(out int token)) yield return token;
        }
    }

    /// <summary>
    /// As <see cref="Stream"/>, asynchronously: each model step runs on the thread pool and the token is yielded as soon as
    /// it is chosen (<c>await foreach</c>). Cancelling <paramref name="cancellationToken"/> (or the token given to
    /// <c>WithCancellation</c>) stops the stream before the next token with an <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="model">The language model.</param>
    /// <param name="prompt">The context to continue (≥ 1 token).</param>
    /// <param name="maxNewTokens">Most tokens to generate (≥ 1).</param>
    /// <param name="sampling">How to pick each token.</param>
    /// <param name="endToken">Stop after generating this token (it is yielded); null: never stop early.</param>
    /// <param name="rng">Random source; <see cref="Rng.Default"/> when null.</param>
    /// <param name="cancellationToken">Stops the generation between tokens.</param>
    /// <returns>The generated tokens, as they are produced.</returns>
    public static IAsyncEnumerable<int> StreamAsync<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> prompt, int maxNewTokens,
        SamplingOptions sampling, int? endToken = null, Rng? rng = null, CancellationToken cancellationToken = default)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var request = Check(model, prompt, maxNewTokens, sampling, endToken, rng);
        return Run(request, cancellationToken);

        static async IAsyncEnumerable<int> Run(GenerationRequest<T, TState> request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var loop = new GenerationLoop<T, TState>(request);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int token = await Task.Run(() => loop.TryNext(out int t) ? t : -1, cancellationToken).ConfigureAwait(false);
                if (token < 0) yield break;
                yield return token;
            }
        }
    }

    private static GenerationRequest<T, TState> Check<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> prompt, int maxNewTokens,
        SamplingOptions sampling, int? endToken, Rng? rng)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampling);
        DecodingChecks.Prompt(prompt, model.VocabularySize, nameof(prompt));
        Guard.Positive(maxNewTokens);
        DecodingChecks.OptionalToken(endToken, model.VocabularySize, nameof(endToken));
        return new GenerationRequest<T, TState>(model, [.. prompt], maxNewTokens, sampling, endToken, rng ?? Rng.Default);
    }
}

/// <summary>A checked generation request (the prompt copied, so later changes to the caller's list do not matter).</summary>
internal sealed record GenerationRequest<T, TState>(ILanguageModel<T, TState> Model, int[] Prompt, int MaxNewTokens,
    SamplingOptions Sampling, int? EndToken, Rng Rng) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>The loop of the header comment, one token per <see cref="TryNext"/>; the prompt is fed on the first call.</summary>
internal sealed class GenerationLoop<T, TState> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly GenerationRequest<T, TState> _request;
    private readonly TokenSampler _sampler;
    private readonly T[] _logits;
    private readonly double[] _z;
    private readonly bool[] _seen;
    private TState _state = default!;
    private int _produced = -1; // −1 until the prompt has been fed
    private int _last;          // the last token chosen, fed to the model at the next call
    private bool _done;

    public GenerationLoop(GenerationRequest<T, TState> request)
    {
        _request = request;
        int vocabulary = request.Model.VocabularySize;
        _sampler = new TokenSampler(request.Sampling, vocabulary, request.Rng);
        _logits = new T[vocabulary];
        _z = new double[vocabulary];
        _seen = new bool[vocabulary];
        foreach (int token in request.Prompt) _seen[token] = true;
    }

    /// <summary>
    /// Chooses the next token; false once the end token or the last allowed token has been produced. The model step
    /// that feeds a token runs at the start of the following call, so each token reaches the caller as soon as it is chosen.
    /// </summary>
    public bool TryNext(out int token)
    {
        token = -1;
        if (_done) return false;
        var model = _request.Model;
        if (_produced < 0)
        {
            _state = model.InitialState(1);
            model.Prefill(_request.Prompt, ref _state, _logits);
            _produced = 0;
        }
        else model.NextLogits([_last], ref _state, _logits);
        DecodingChecks.CopyLogits<T>(_logits, _z);
        token = _sampler.Next(_z, _seen);
        _seen[token] = true;
        _last = token;
        _produced++;
        _done = token == _request.EndToken || _produced == _request.MaxNewTokens;
        return true;
    }
}
