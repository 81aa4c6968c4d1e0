using System.Numerics.Tensors;
using NeuralPrimitives;

// A character-level language model in ten lines: containers, a loss, an optimiser, clipping.
Rng.ManualSeed(42);                                   // every random choice is seeded
string text = "the quick brown fox jumps over the lazy dog. the lazy dog sleeps all day. ";
char[] vocab = text.Distinct().Order().ToArray();
int[] ids = text.Select(c => Array.IndexOf(vocab, c)).ToArray();
var inputs = Tensor.Create(ids[..^1], [ids.Length - 1, 1]);   // [T, B = 1]: characters 0 … T−1
var targets = Tensor.Create(ids[1..], [ids.Length - 1, 1]);   // the next character of each

var embed = new Embedding<float>(vocab.Length, 24);
var lstm = new Lstm<float>(24, 48, numLayers: 2);
var head = new Linear<float>(48, vocab.Length);
var model = new ModuleDict<float> { ["embed"] = embed, ["lstm"] = lstm, ["head"] = head };
var parameters = model.Parameters().ToArray();        // embed.weight, lstm.weight_ih_l0, …, head.bias
var lossFn = new CrossEntropyLoss<float>();
var optimizer = new AdamW<float>(parameters, lr: 1e-2);
for (int step = 1; step <= 150; step++)
{
    var (hidden, _, _) = lstm.Forward(embed.Forward(inputs));            // [T, 1, 48]
    float loss = lossFn.Forward(head.Forward(hidden), targets);           // logits [T, 1, V], class axis last
    embed.Backward(lstm.Backward(head.Backward(lossFn.Backward())).DInput);
    GradientClipping.ClipGradNorm(parameters, maxNorm: 1.0);
    optimizer.Step();
    optimizer.ZeroGrad();
    if (step % 50 == 0) Console.WriteLine($"step {step}: loss {loss:F3} nats/char, perplexity {Perplexity.FromMeanCrossEntropy(loss):F2}");
}

// The state_dict keys are PyTorch's: the file loads into the same model written with torch.nn.
SafeTensors.Save(model, "quickstart.safetensors");
Console.WriteLine(string.Join(", ", model.StateDict().Keys));

// Prove a backward pass: central differences in double precision, like torch.autograd.gradcheck.
var check = GradientCheck.Run(new Linear<double>(4, 3), Tensor.Create(new double[] { 1, -2, 3, 0.5, 2, 1, -1, 4 }, [2, 4]));
Console.WriteLine(check);
return check.Passed ? 0 : 1;
