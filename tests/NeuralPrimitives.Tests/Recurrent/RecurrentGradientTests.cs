namespace NeuralPrimitives.Tests.Recurrent;

// Central-difference gradient checks in double of every layer: ∂L/∂input, ∂L/∂h0, ∂L/∂c0 and every
// parameter, with the loss reading the output sequence AND the final states (so dHN, dCN are used).
public class RecurrentGradientTests
{
    public static TheoryData<RefKind, int, bool, bool, bool, int, double> Cases()
    {
        var data = new TheoryData<RefKind, int, bool, bool, bool, int, double>();
        foreach (var kind in Enum.GetValues<RefKind>())
        {
            //            kind  layers bidir  lengths batchFirst proj dropout
            data.Add(kind, 1, false, false, false, 0, 0);
            data.Add(kind, 2, true, false, false, 0, 0);
            data.Add(kind, 1, true, true, false, 0, 0);
            data.Add(kind, 2, false, true, true, 0, 0.4);
        }
        data.Add(RefKind.Lstm, 1, false, false, false, 2, 0);
        data.Add(RefKind.Lstm, 2, true, true, true, 2, 0.3);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LayerGradientCheck(RefKind kind, int layers, bool bidir, bool lengths, bool batchFirst, int proj, double dropout)
    {
        var rng = new Rng((ulong)(layers * 7 + (bidir ? 3 : 0) + (lengths ? 11 : 0) + proj * 13 + (int)kind * 101));
        var layer = AnyLayer<double>.Create(kind, 3, 3, layers, bidir, batchFirst, proj, dropout, rng: rng);
        layer.ResampleDropout = false; // the same masks on every forward of the check
        int steps = 4, batch = 3;
        var problem = RecurrentTestUtil.Problem(layer, steps, batch, rng, lengths ? [2, 4, 1] : null);
        var result = GradientCheck.Run(problem);
        Assert.True(result.Passed, result.ToString());
        Assert.Equal((layer.IsLstm ? 3 : 2) + layer.Module.Parameters().Count(), result.Tensors.Count);
    }

    // A hidden size of 9 runs both the SIMD body (Vector<double>) and the scalar tail of the
    // per-row gate derivatives.
    [Theory]
    [MemberData(nameof(RecurrentLengthsTests.CellKinds), MemberType = typeof(RecurrentLengthsTests))]
    public void WideHiddenGradientCheck(RefKind kind)
    {
        var rng = new Rng(88);
        var layer = AnyLayer<double>.Create(kind, 2, 9, 1, true, rng: rng);
        var r = GradientCheck.Run(RecurrentTestUtil.Problem(layer, 3, 2, rng, [3, 2]));
        Assert.True(r.Passed, r.ToString());
    }

    [Fact]
    public void BiasFreeLayersGradientCheck()
    {
        foreach (var kind in Enum.GetValues<RefKind>())
        {
            var rng = new Rng(77);
            var layer = AnyLayer<double>.Create(kind, 2, 3, 1, true, bias: false, rng: rng);
            var r = GradientCheck.Run(RecurrentTestUtil.Problem(layer, 3, 2, rng));
            Assert.True(r.Passed, kind + "\n" + r);
        }
    }
}
