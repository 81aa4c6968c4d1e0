// The transformer kind (Gpt<float>): plugged in once the GPT model is in the library.
namespace CharLm;

internal abstract class GptCharModel : ICharModel
{
    public abstract ModelConfig Config { get; }
    public abstract Module<float> Module { get; }
    public abstract (float[] Weights, int Dim) Embeddings { get; }
    public abstract float TrainStep(Tensor<int> inputs, Tensor<int> targets, bool resetState);
    public abstract double Evaluate(ReadOnlySpan<int> split, int count, int chunk, double fraction = 1);
    public abstract TResult Accept<TResult>(IModelVisitor<TResult> visitor);

    /// <summary>The attention weights of the last layer's heads over one line of <paramref name="sample"/>.</summary>
    public abstract (string Line, double[][,] Heads)? AttentionLine(Vocabulary vocabulary, string sample);
}

internal static class GptModel
{
    public static ICharModel Create(ModelConfig config, ulong seed) =>
        throw new UserError("--model transformer is not available in this build (the GPT model is not in the library yet).");
}

/// <summary>A Hugging Face GPT-2 folder (model.safetensors) with the GPT-2 tokenizer.</summary>
internal static class Gpt2Folder
{
    public static (ICharModel Model, ITextCodec Codec) Load(string folder) =>
        throw new UserError("--gpt2 is not available in this build (the GPT model is not in the library yet).");
}
