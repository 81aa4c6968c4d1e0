// Decoding from any of the sample's models through the library's Decoding/ (Generation.Stream, BeamSearch,
// Introspection), which work on any ILanguageModel<float, TState>: the visitors below carry each call over the
// model's state type (a recurrent model's hidden states, the GPT's KV cache).
namespace CharLm;

internal static class Decode
{
    /// <summary>Sampled (or greedy) tokens after <paramref name="prompt"/>, streamed one by one.</summary>
    public static IEnumerable<int> Stream(ICharModel model, int[] prompt, int length, SamplingOptions sampling, ulong seed) =>
        model.Accept(new StreamVisitor(prompt, length, sampling, seed));

    public static int[] Sample(ICharModel model, int[] prompt, int length, SamplingOptions sampling, ulong seed) =>
        Stream(model, prompt, length, sampling, seed).ToArray();

    public static IReadOnlyList<BeamHypothesis> Beam(ICharModel model, int[] prompt, int length, int width, double lengthPenalty, int count) =>
        model.Accept(new BeamVisitor(prompt, length, width, lengthPenalty, count));

    public static SequenceScore Score(ICharModel model, int[] text, int topK) => model.Accept(new ScoreVisitor(text, topK));

    private sealed record StreamVisitor(int[] Prompt, int Length, SamplingOptions Sampling, ulong Seed) : IModelVisitor<IEnumerable<int>>
    {
        public IEnumerable<int> Visit<TState>(ILanguageModel<float, TState> model) =>
            Generation.Stream(model, Prompt, Length, Sampling, rng: new Rng(Seed));
    }

    private sealed record BeamVisitor(int[] Prompt, int Length, int Width, double LengthPenalty, int Count) : IModelVisitor<IReadOnlyList<BeamHypothesis>>
    {
        public IReadOnlyList<BeamHypothesis> Visit<TState>(ILanguageModel<float, TState> model) =>
            BeamSearch.Run(model, Prompt, Width, Length, endToken: null, lengthPenalty: LengthPenalty, numReturnSequences: Count);
    }

    private sealed record ScoreVisitor(int[] Text, int TopK) : IModelVisitor<SequenceScore>
    {
        public SequenceScore Visit<TState>(ILanguageModel<float, TState> model) => Introspection.Score(model, Text, TopK);
    }
}
