// Misuse of the training pair, for every module kind outside Recurrent/ (Core/Module.cs: BeginForward /
// BeginBackward): a second Backward, a Backward before any Forward, a Backward after a Forward that threw,
// and two threads inside Forward/Backward at once are all InvalidOperationException naming the module;
// Infer stays concurrent and bitwise deterministic.
using System.Reflection;
using System.Runtime.InteropServices;

namespace NeuralPrimitives.Tests.Core;

public class MisuseTests
{
    /// <summary>One module kind: how to build it, run a valid and an invalid Forward, a Backward, and Infer.</summary>
    public sealed record Kind(
        string Name,
        Func<Module<float>> Create,
        Action<Module<float>> Forward,
        Action<Module<float>> BadForward,
        Action<Module<float>> Backward,
        Func<Module<float>, int, float[]> Infer);

    private static Tensor<float> X(int seed, params int[] shape) => TestData.Tensor<float>(new Rng((ulong)seed), shape);
    private static Tensor<int> Ids(int seed, int n, int v, params int[] shape)
    {
        var rng = new Rng((ulong)seed);
        return Tensor.Create(Enumerable.Range(0, n).Select(_ => rng.NextInt(v)).ToArray(), Array.ConvertAll(shape, d => (nint)d));
    }

    // A one-tensor layer: Forward on [3, 4, width], a width that does not fit as the bad input.
    private static Kind Layer(string name, Func<Module<float>> create, int width) => new(
        name, create,
        m => ((ILayer<float>)m).Forward(X(1, 3, 4, width)),
        m => ((ILayer<float>)m).Forward(X(1, 3, 4, width + 1)),
        m => ((ILayer<float>)m).Backward(X(2, 3, 4, width)),
        (m, i) => ((ILayer<float>)m).Infer(X(100 + i, 3, 4, width)).ToArray());

    private static readonly Kind[] All =
    [
        Layer("Linear", () => new Linear<float>(6, 5, rng: new Rng(1)), 6) with
        {
            Backward = m => ((Linear<float>)m).Backward(X(2, 3, 4, 5)),
        },
        Layer("Relu", () => new Relu<float>(), 6) with { BadForward = m => ((Relu<float>)m).Forward(null!) },
        Layer("Tanh", () => new Tanh<float>(), 6) with { BadForward = m => ((Tanh<float>)m).Forward(Tensor.Create(new float[12], [4, 3]).Slice([0..4, 0..2])) },
        Layer("Sigmoid", () => new Sigmoid<float>(), 6) with { BadForward = m => ((Sigmoid<float>)m).Forward(Tensor.Create(new float[24], [4, 6]).Slice([0..4, 0..3])) },
        Layer("Silu", () => new Silu<float>(), 6) with { BadForward = m => ((Silu<float>)m).Forward(null!) },
        Layer("Gelu", () => new Gelu<float>(), 6) with { BadForward = m => ((Gelu<float>)m).Forward(null!) },
        Layer("Softmax", () => new Softmax<float>(), 6) with { BadForward = m => ((Softmax<float>)m).Forward(null!) },
        Layer("LogSoftmax", () => new LogSoftmax<float>(), 6) with { BadForward = m => ((LogSoftmax<float>)m).Forward(null!) },
        Layer("Sequential", () => new Sequential<float>(new Linear<float>(6, 4, rng: new Rng(2)), new Tanh<float>(), new Linear<float>(4, 6, rng: new Rng(3))), 6),
        Layer("LearnedPositionalEmbedding", () => new LearnedPositionalEmbedding<float>(8, 6, batchFirst: true, rng: new Rng(4)), 6),
        Layer("SinusoidalPositionalEncoding", () => new SinusoidalPositionalEncoding<float>(6, 8, batchFirst: true), 6),
        new("RotaryEmbedding", () => new RotaryEmbedding<float>(6),
            m => ((RotaryEmbedding<float>)m).Forward(X(1, 3, 4, 6), 5),
            m => ((RotaryEmbedding<float>)m).Forward(X(1, 3, 4, 6), -1),
            m => ((RotaryEmbedding<float>)m).Backward(X(2, 3, 4, 6)),
            (m, i) => ((RotaryEmbedding<float>)m).Infer(X(100 + i, 3, 4, 6), i).ToArray()),
        new("Embedding", () => new Embedding<float>(10, 6, scaleGradByFreq: true, rng: new Rng(5)),
            m => ((Embedding<float>)m).Forward(Ids(1, 12, 10, 3, 4)),
            m => ((Embedding<float>)m).Forward(Tensor.Create(new[] { 1, 10 }, [2])),
            m => ((Embedding<float>)m).Backward(X(2, 3, 4, 6)),
            (m, i) => ((Embedding<float>)m).Infer(Ids(100 + i, 12, 10, 3, 4)).ToArray()),
        new("EmbeddingBag", () => new EmbeddingBag<float>(10, 6, EmbeddingBagMode.Sum, rng: new Rng(6)),
            m => ((EmbeddingBag<float>)m).Forward(Ids(1, 12, 10, 12), Tensor.Create(new[] { 0, 5, 5 }, [3]), X(3, 12)),
            m => ((EmbeddingBag<float>)m).Forward(Ids(1, 12, 10, 12), Tensor.Create(new[] { 0, 13 }, [2])),
            m => ((EmbeddingBag<float>)m).Backward(X(2, 3, 6)),
            (m, i) => ((EmbeddingBag<float>)m).Infer(Ids(100 + i, 12, 10, 12), Tensor.Create(new[] { 0, 5, 5 }, [3]), X(3, 12)).ToArray()),
        new("EmbeddingBag", () => new EmbeddingBag<float>(10, 6, EmbeddingBagMode.Max, rng: new Rng(7)),
            m => ((EmbeddingBag<float>)m).Forward(Ids(1, 12, 10, 3, 4)),
            m => ((EmbeddingBag<float>)m).Forward(Ids(1, 12, 10, 3, 4), Tensor.Create(new[] { 0 }, [1])),
            m => ((EmbeddingBag<float>)m).Backward(X(2, 3, 6)),
            (m, i) => ((EmbeddingBag<float>)m).Infer(Ids(100 + i, 12, 10, 3, 4)).ToArray()),
    ];

    public static TheoryData<int> Kinds()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < All.Length; i++) data.Add(i);
        return data;
    }

    /// <summary><paramref name="call"/> is refused with an InvalidOperationException that names the module and says <paramref name="what"/>.</summary>
    private static void AssertRefused(Kind kind, Action call, string what)
    {
        var e = Assert.Throws<InvalidOperationException>(call);
        Assert.StartsWith(kind.Name + ".", e.Message);
        Assert.Contains(what, e.Message);
    }

    /// <summary>Kind <paramref name="k"/> and a new module of it after one valid Forward.</summary>
    private static (Kind Kind, Module<float> M) AfterForward(int k)
    {
        var kind = All[k];
        var m = kind.Create();
        kind.Forward(m);
        return (kind, m);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void SecondBackwardAfterOneForwardIsRefused(int k)
    {
        var (kind, m) = AfterForward(k);
        kind.Backward(m);
        var grads = m.Parameters().Select(p => p.Grad.ToArray()).ToArray();
        AssertRefused(kind, () => kind.Backward(m), "twice");
        Assert.Equal(grads, m.Parameters().Select(p => p.Grad.ToArray()).ToArray()); // nothing accumulated twice
        kind.Forward(m);
        kind.Backward(m); // a new Forward makes Backward valid again
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void BackwardBeforeAnyForwardIsRefused(int k)
    {
        var kind = All[k];
        AssertRefused(kind, () => kind.Backward(kind.Create()), "before Forward");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ForwardThatThrowsInvalidatesTheCache(int k)
    {
        var (kind, m) = AfterForward(k);
        Assert.ThrowsAny<ArgumentException>(() => kind.BadForward(m));
        AssertRefused(kind, () => kind.Backward(m), "after a Forward that threw");
        kind.Forward(m);
        kind.Backward(m);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void EnteringWhileAnotherThreadIsInsideIsRefused(int k)
    {
        // The in-use flag as another thread inside Forward or Backward leaves it (BlockingLayer below shows the flag
        // really is set and seen across threads; this checks that every module kind consults it).
        var (kind, m) = AfterForward(k);
        using (HoldInUseFlag(m))
        {
            AssertRefused(kind, () => kind.Forward(m), "another call");
            AssertRefused(kind, () => kind.Backward(m), "another call");
            Assert.NotNull(kind.Infer(m, 0)); // Infer never takes the flag
        }
        kind.Backward(m); // the refused calls changed nothing: the first Forward's Backward still runs, once
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void InferOnEightThreadsIsBitwiseEqualToOneThread(int k)
    {
        var kind = All[k];
        var m = kind.Create();
        const int inputs = 6, threads = 8, rounds = 10;
        var expected = Enumerable.Range(0, inputs).Select(i => kind.Infer(m, i)).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int r = 0; r < rounds; r++)
            {
                int i = (t + r) % inputs;
                var y = kind.Infer(m, i);
                if (!MemoryMarshal.AsBytes(y.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(expected[i].AsSpan())))
                    failures.Add($"thread {t}, round {r}, input {i}");
            }
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        Assert.Empty(failures);
    }

    // Sets the module's in-use flag (as a thread inside Forward/Backward does) until disposed.
    private static IDisposable HoldInUseFlag(Module<float> m)
    {
        var flag = typeof(Module<float>).GetField("_inUse", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("Module<T>._inUse not found: update this test to the guard's field.");
        Assert.Equal(0, flag.GetValue(m));
        flag.SetValue(m, 1);
        return new Release(() => flag.SetValue(m, 0));
    }

    private sealed class Release(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    /// <summary>A real FunctionLayer whose Apply waits until released: a deterministic "thread inside Forward".</summary>
    private sealed class BlockingLayer : FunctionLayer<float>
    {
        public readonly ManualResetEventSlim Entered = new(), Release = new();
        private int _blockNext = 1; // only the first call blocks
        protected override bool BackwardUsesOutput => false;
        protected override void Apply(ReadOnlySpan<float> x, Span<float> y, int lastDim)
        {
            if (Interlocked.Exchange(ref _blockNext, 0) == 1) { Entered.Set(); Release.Wait(TimeSpan.FromSeconds(30)); }
            x.CopyTo(y);
        }
        protected override void Derivative(ReadOnlySpan<float> cached, ReadOnlySpan<float> dy, Span<float> dx, int lastDim) => dy.CopyTo(dx);
    }

    [Fact]
    public void SecondThreadInForwardOrBackwardIsDetected()
    {
        var layer = new BlockingLayer();
        var x = X(1, 2, 3);
        Exception? firstThreadError = null;
        var first = new Thread(() =>
        {
            try { layer.Forward(x); } catch (Exception e) { firstThreadError = e; }
        });
        first.Start();
        Assert.True(layer.Entered.Wait(TimeSpan.FromSeconds(30)), "the first thread never entered Forward");
        try
        {
            // The first thread is inside Forward now, and stays there until released.
            var f = Assert.Throws<InvalidOperationException>(() => layer.Forward(x));
            Assert.StartsWith("BlockingLayer.Forward entered while another call", f.Message);
            var b = Assert.Throws<InvalidOperationException>(() => layer.Backward(x));
            Assert.StartsWith("BlockingLayer.Backward entered while another call", b.Message);
            Assert.Equal(x.ToArray(), layer.Infer(Tensor.Create(x.ToArray(), [2, 3])).ToArray()); // Infer is not blocked
        }
        finally
        {
            layer.Release.Set();
            first.Join();
        }
        Assert.Null(firstThreadError);
        Assert.Equal(x.ToArray(), layer.Backward(x).ToArray()); // the first thread's Forward completed and may be differentiated
    }

    [Fact]
    public void BackwardWithAWrongShapeMayBeRetried()
    {
        var lin = new Linear<float>(3, 2, rng: new Rng(1));
        lin.Forward(X(1, 4, 3));
        Assert.Equal("dOutput", Assert.Throws<ArgumentException>(() => lin.Backward(X(2, 4, 3))).ParamName);
        lin.Backward(X(2, 4, 2));
        Assert.Throws<InvalidOperationException>(() => lin.Backward(X(2, 4, 2)));
    }
}
