// The training pair's misuse guard (Module.BeginForward / BeginBackward) in every recurrent module:
// exactly one Backward per successful Forward, and one thread inside Forward/Backward at a time.
// Before it, a second Backward doubled the gradients silently, and a Backward after a Forward that
// threw ran against the earlier input (seen with Lstm). Infer stays unguarded and concurrent.
using System.Collections.Concurrent;

namespace NeuralPrimitives.Tests.Recurrent;

public class RecurrentMisuseTests
{
    /// <summary>A module with fixed good arguments for its training pair, a Forward that throws, and Infer.</summary>
    private sealed record Trainee(string Name, Module<double> Module, Action Forward, Action BadForward, Action Backward, Action BadBackward, Func<double[]> Infer);

    public static TheoryData<string> Modules => new() { "Rnn", "Lstm", "Gru", "RnnCell", "LstmCell", "GruCell" };

    private static Tensor<double> Z(params int[] shape) => Tensor.Create(new double[shape.Aggregate(1, (a, b) => a * b)], Array.ConvertAll(shape, d => (nint)d));

    /// <summary>Layers: T steps of B sequences, I → H; cells: B rows.</summary>
    private static Trainee Create(string name, int steps = 6, int batch = 3, int inF = 4, int hid = 5)
    {
        var rng = new Rng(90);
        var x = TestData.Tensor<double>(rng, steps, batch, inF);
        var dy = TestData.Tensor<double>(rng, steps, batch, hid);
        var xc = TestData.Tensor<double>(rng, batch, inF);
        var dh = TestData.Tensor<double>(rng, batch, hid);
        var bad = Z(steps, batch, inF + 1);
        var badCell = Z(batch, inF + 1);
        var badGrad = Z(1, 1, 1);
        var m = new Rng(91);
        return name switch
        {
            "Rnn" => new Rnn<double>(inF, hid, rng: m) is var r
                ? new(name, r, () => r.Forward(x), () => r.Forward(bad), () => r.Backward(dy), () => r.Backward(badGrad), () => r.Infer(x).Output.ToArray()) : null!,
            "Lstm" => new Lstm<double>(inF, hid, rng: m) is var l
                ? new(name, l, () => l.Forward(x), () => l.Forward(bad), () => l.Backward(dy), () => l.Backward(badGrad), () => l.Infer(x).Output.ToArray()) : null!,
            "Gru" => new Gru<double>(inF, hid, rng: m) is var g
                ? new(name, g, () => g.Forward(x), () => g.Forward(bad), () => g.Backward(dy), () => g.Backward(badGrad), () => g.Infer(x).Output.ToArray()) : null!,
            "RnnCell" => new RnnCell<double>(inF, hid, rng: m) is var rc
                ? new(name, rc, () => rc.Forward(xc), () => rc.Forward(badCell), () => rc.Backward(dh), () => rc.Backward(badGrad), () => rc.Infer(xc).ToArray()) : null!,
            "LstmCell" => new LstmCell<double>(inF, hid, rng: m) is var lc
                ? new(name, lc, () => lc.Forward(xc), () => lc.Forward(badCell), () => lc.Backward(dh), () => lc.Backward(badGrad), () => lc.Infer(xc).H.ToArray()) : null!,
            _ => new GruCell<double>(inF, hid, rng: m) is var gc
                ? new(name, gc, () => gc.Forward(xc), () => gc.Forward(badCell), () => gc.Backward(dh), () => gc.Backward(badGrad), () => gc.Infer(xc).ToArray()) : null!,
        };
    }

    private static double[][] Grads(Trainee t) => t.Module.Parameters().Select(p => p.Grad.ToArray()).ToArray();

    private static void SameGrads(double[][] expected, double[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    /// <summary>Asserts that <paramref name="t"/> holds the gradients of one Forward/Backward of <paramref name="fresh"/>, its untouched twin.</summary>
    private static void HasTheGradientsOfOneStepOf(Trainee t, Trainee fresh)
    {
        fresh.Forward();
        fresh.Backward();
        SameGrads(Grads(fresh), Grads(t));
    }

    private static void Refused(Action call, string module, string fragment)
    {
        var ex = Assert.Throws<InvalidOperationException>(call);
        Assert.Contains(module + ".Backward", ex.Message);
        Assert.Contains(fragment, ex.Message);
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void SecondBackwardThrowsAndTheGradientsCountOnce(string name)
    {
        var t = Create(name);
        t.Forward();
        t.Backward();
        var once = Grads(t);
        Assert.Contains(once, g => g.Any(v => v != 0));
        Refused(t.Backward, name, "twice");
        SameGrads(once, Grads(t));
        t.Forward();                     // a new Forward allows one more Backward, which accumulates
        t.Backward();
        var twice = Grads(t);
        for (int i = 0; i < once.Length; i++) TestData.AssertClose<double>(once[i].Select(v => 2 * v).ToArray(), twice[i], 1e-13, 1e-13, "2 × grad");
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void BackwardBeforeAnyForwardThrows(string name)
    {
        var t = Create(name);
        Refused(t.Backward, name, "before Forward");
        Assert.All(Grads(t), g => Assert.All(g, v => Assert.Equal(0.0, v)));
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void BackwardAfterAForwardThatThrewThrowsInsteadOfUsingTheEarlierInput(string name)
    {
        var t = Create(name);
        t.Forward();
        Assert.ThrowsAny<ArgumentException>(t.BadForward);
        Refused(t.Backward, name, "threw");
        Assert.All(Grads(t), g => Assert.All(g, v => Assert.Equal(0.0, v)));
        // The module recovers: a good Forward and its Backward give the gradients of a fresh module.
        t.Forward();
        t.Backward();
        HasTheGradientsOfOneStepOf(t, Create(name));
    }

    [Theory]
    [MemberData(nameof(Modules))]
    public void BackwardWithAWrongShapeLeavesTheForwardUsable(string name)
    {
        var t = Create(name);
        t.Forward();
        Assert.ThrowsAny<ArgumentException>(t.BadBackward);
        t.Backward();
        HasTheGradientsOfOneStepOf(t, Create(name));
    }

    // Two threads train one module (forbidden): the in-use flag makes one of them throw instead of both
    // corrupting the caches and gradients. A third thread's Infer runs throughout, unguarded, and keeps
    // giving the right answer (the weights are not being written).
    [Theory]
    [MemberData(nameof(Modules))]
    public void ConcurrentTrainingCallsAreDetectedAndInferStaysConcurrent(string name)
    {
        bool cell = name.EndsWith("Cell");
        var t = cell ? Create(name, batch: 64, inF: 32, hid: 48) : Create(name, steps: 48, batch: 4, inF: 8, hid: 24);
        var expectedInfer = t.Infer();
        int collisions = 0, infers = 0;
        var unexpected = new ConcurrentQueue<Exception>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        using var start = new Barrier(3);
        bool Running() => (Volatile.Read(ref collisions) < 3 || Volatile.Read(ref infers) < 3) && DateTime.UtcNow < deadline;

        void Train()
        {
            start.SignalAndWait();
            while (Running())
            {
                try
                {
                    t.Forward();
                    t.Backward();
                }
                catch (InvalidOperationException e) when (e.Message.Contains("entered while another call"))
                {
                    Interlocked.Increment(ref collisions);
                }
                catch (InvalidOperationException e) when (e.Message.Contains(".Backward called"))
                {
                    // The other thread's Forward/Backward came in between (e.g. it ran the Backward of our
                    // Forward): refused too, which is fine.
                }
                catch (Exception e)
                {
                    unexpected.Enqueue(e);
                    return;
                }
            }
        }

        void Infer()
        {
            start.SignalAndWait();
            while (Running())
            {
                try
                {
                    if (!t.Infer().SequenceEqual(expectedInfer)) throw new InvalidOperationException("Infer gave a different result.");
                    Interlocked.Increment(ref infers);
                }
                catch (Exception e)
                {
                    unexpected.Enqueue(e);
                    return;
                }
            }
        }

        var threads = new[] { new Thread(Train), new Thread(Train), new Thread(Infer) };
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.Empty(unexpected);
        Assert.True(collisions > 0, "no concurrent call was detected within the time limit");
        Assert.True(infers > 0);

        // Nothing is left stuck: one thread trains the module normally again.
        t.Module.ZeroGrad();
        t.Forward();
        t.Backward();
        HasTheGradientsOfOneStepOf(t, cell ? Create(name, batch: 64, inF: 32, hid: 48) : Create(name, steps: 48, batch: 4, inF: 8, hid: 24));
    }
}
