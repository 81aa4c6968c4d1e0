// Bad input found by probing the public API as a hostile user would: each is an ArgumentException (or
// ArgumentOutOfRangeException) whose ParamName is the public argument and whose message has the numbers.

namespace NeuralPrimitives.Tests.Core;

public class BadInputTests
{
    private const string Limit = "2,147,483,591"; // Array.MaxLength

    public static TheoryData<string, string, string> OversizedTables() => new()
    {
        { "Embedding", "numEmbeddings", "numEmbeddings × embeddingDim = 50,000 × 50,000" },
        { "EmbeddingBag", "numEmbeddings", "numEmbeddings × embeddingDim = 50,000 × 50,000" },
        { "LearnedPositionalEmbedding", "maxLen", "maxLen × embeddingDim = 50,000 × 50,000" },
        { "SinusoidalPositionalEncoding", "maxLen", "maxLen × dModel = 65,536 × 65,538" },
        { "SinusoidalPositionalEncoding.Compute", "positions", "positions × dim = 65,538 × 65,536" },
        { "RowSparseGradient", "rows", "rows × rowLength = 50,000,000 × 50,000" },
    };

    [Theory]
    [MemberData(nameof(OversizedTables))]
    public void TablesWhoseSizeOverflowsNameTheirSizesAndTheLimit(string what, string param, string product)
    {
        Action create = what switch
        {
            "Embedding" => () => _ = new Embedding<float>(50000, 50000),
            "EmbeddingBag" => () => _ = new EmbeddingBag<float>(50000, 50000),
            "LearnedPositionalEmbedding" => () => _ = new LearnedPositionalEmbedding<float>(50000, 50000),
            "SinusoidalPositionalEncoding" => () => _ = new SinusoidalPositionalEncoding<float>(65538, 65536),
            "RowSparseGradient" => () => _ = new RowSparseGradient<float>(50_000_000, 50_000),
            _ => () => SinusoidalPositionalEncoding<float>.Compute(new float[4], 65538, 65536),
        };
        var e = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Equal(param, e.ParamName);
        Assert.Contains(product, e.Message);
        Assert.Contains(Limit, e.Message);
    }

    [Fact]
    public void OutputsWhoseSizeOverflowsNameTheArgument()
    {
        var emb = new Embedding<float>(10, 100000);
        var idx = Tensor.Create(new int[22000], [22000]); // 2.2e9 outputs: the int product used to wrap
        foreach (var run in new Action[] { () => emb.Infer(idx), () => emb.Forward(idx) })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(run);
            Assert.Equal("indices", e.ParamName); Assert.Contains("22,000 × 100,000", e.Message); Assert.Contains(Limit, e.Message);
        }
    }

    [Fact]
    public void StartPositionsPastTheTableAreRejectedWithoutOverflow()
    {
        var x = Tensor.Create(new float[3 * 4], [3, 4]);
        foreach (AdditivePositionalEncoding<float> pe in new AdditivePositionalEncoding<float>[] { new SinusoidalPositionalEncoding<float>(4, 10), new LearnedPositionalEmbedding<float>(10, 4) })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => pe.Forward(x, int.MaxValue)); // int.MaxValue + 3 used to wrap below maxLen
            Assert.Equal("startPosition", e.ParamName); Assert.Contains("maxLen 10", e.Message);
            Assert.Equal("startPosition", Assert.Throws<ArgumentOutOfRangeException>(() => pe.Infer(x, int.MaxValue - 1)).ParamName);
            var tooLong = Assert.Throws<ArgumentException>(() => pe.Infer(x, 8));
            Assert.Equal("input", tooLong.ParamName); Assert.Contains("start position 8 + sequence length 3 exceeds maxLen 10", tooLong.Message);
            Assert.Equal(x.Lengths.ToArray(), pe.Infer(x, 7).Lengths.ToArray());
        }
    }

    [Fact]
    public void EnumValuesOutsideTheEnumAreRejected()
    {
        var gelu = Assert.Throws<ArgumentOutOfRangeException>(() => new Gelu<float>((GeluApproximation)7));
        Assert.Equal("approximate", gelu.ParamName); Assert.Contains("got 7", gelu.Message);
        Assert.Equal("approximate", Assert.Throws<ArgumentOutOfRangeException>(() => Activations.Gelu<float>(new float[2], new float[2], (GeluApproximation)7)).ParamName);
        Assert.Equal("approximate", Assert.Throws<ArgumentOutOfRangeException>(() => Activations.GeluBackward<float>(new float[2], new float[2], new float[2], (GeluApproximation)(-1))).ParamName);
        Assert.Equal("mode", Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddingBag<float>(3, 2, (EmbeddingBagMode)3)).ParamName);
        Assert.Equal("style", Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(4, style: (RotaryStyle)2)).ParamName);
        Assert.Equal(GeluApproximation.Tanh, new Gelu<float>(GeluApproximation.Tanh).Approximate);
    }

    [Fact]
    public void StridedTensorsAreReportedUnderTheCallersArgumentName()
    {
        static Tensor<float> Strided(int rows, int cols) => Tensor.Create(new float[rows * 2 * cols], [rows, 2 * cols]).Slice([0..rows, 0..cols]);
        var cases = new (string Name, Action Run)[]
        {
            ("input", () => new Linear<float>(3, 2).Forward(Strided(4, 3))),
            ("input", () => new Relu<float>().Infer(Strided(4, 3))),
            ("dOutput", () => { var s = new Softmax<float>(); s.Forward(Tensor.Create(new float[12], [4, 3])); s.Backward(Strided(4, 3)); }),
            ("perSampleWeights", () => new EmbeddingBag<float>(3, 2, EmbeddingBagMode.Sum).Forward(Tensor.Create(new int[12], [4, 3]), null, Strided(4, 3))),
            ("indices", () => new Embedding<float>(3, 2).Infer(Tensor.Create(new int[24], [4, 6]).Slice([0..4, 0..3]))),
            ("destination", () => new RotaryEmbedding<float>(6).Apply(Tensor.Create(new float[24], [4, 6]), Strided(4, 6))),
            ("input", () => new SinusoidalPositionalEncoding<float>(4, 8).Infer(Strided(3, 4))),
        };
        foreach (var (name, run) in cases)
        {
            var e = Assert.Throws<ArgumentException>(run);
            Assert.Equal(name, e.ParamName);
            Assert.Contains("is not dense", e.Message); Assert.Contains("ToDenseTensor", e.Message);
        }
        Assert.Equal("myTensor", Assert.Throws<ArgumentException>(() => { var myTensor = Strided(2, 2); myTensor.AsSpan(); }).ParamName);
    }

    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    [InlineData("Relu")]
    public void EmptyLastDimensionGivesAnEmptyResultAsPyTorch(string name)
    {
        // torch.softmax(torch.empty(2, 0), -1) is an empty [2, 0] tensor (it used to report the internal "n").
        FunctionLayer<float> layer = name switch { "Softmax" => new Softmax<float>(), "LogSoftmax" => new LogSoftmax<float>(), _ => new Relu<float>() };
        var empty = Tensor.Create(Array.Empty<float>(), [2, 0]);
        Assert.Equal(new nint[] { 2, 0 }, layer.Forward(empty).Lengths.ToArray());
        Assert.Equal(new nint[] { 2, 0 }, layer.Backward(empty).Lengths.ToArray());
        Assert.Equal(new nint[] { 2, 0 }, layer.Infer(empty).Lengths.ToArray());
    }

    [Fact]
    public void ShapeHelpersNameTheirArgument()
    {
        var p = Assert.Throws<ArgumentOutOfRangeException>(() => Shapes.Product([50000, 50000]));
        Assert.Equal("lengths", p.ParamName); Assert.Contains("[50000, 50000]", p.Message);
        Assert.Equal("lengths", Assert.Throws<ArgumentOutOfRangeException>(() => Shapes.Product(new nint[] { 1 << 20, 1 << 20 })).ParamName);
        Assert.Equal(0, Shapes.Product([50000, 0, 50000]));
        Assert.Equal(1, Shapes.Product(ReadOnlySpan<int>.Empty));
        Assert.Equal("lengths", Assert.Throws<ArgumentException>(() => Shapes.WithLast(ReadOnlySpan<nint>.Empty, 3)).ParamName);
    }

    [Fact]
    public void RandomDrawsAndInitialisersRejectMeaninglessArguments()
    {
        var rng = new Rng(1);
        Assert.Equal("std", Assert.Throws<ArgumentOutOfRangeException>(() => rng.Normal(0, -1)).ParamName);
        Assert.Equal("std", Assert.Throws<ArgumentOutOfRangeException>(() => rng.FillNormal<float>(new float[2], 0, double.NaN)).ParamName);
        Assert.Equal("mean", Assert.Throws<ArgumentOutOfRangeException>(() => rng.FillNormal<float>(new float[2], double.PositiveInfinity)).ParamName);
        var u = Assert.Throws<ArgumentOutOfRangeException>(() => rng.FillUniform<float>(new float[2], 1, 0));
        Assert.Equal("high", u.ParamName); Assert.Contains("≥ low = 1", u.Message);
        Assert.Equal("low", Assert.Throws<ArgumentOutOfRangeException>(() => rng.Uniform(double.NaN, 1)).ParamName);
        Assert.Equal(0.5, rng.Uniform(0.5, 0.5)); // an empty range is a constant, as torch.empty(1).uniform_(0.5, 0.5)
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => Init.XavierUniform<float>(null!, rng)).ParamName);
        Assert.Equal("rng", Assert.Throws<ArgumentNullException>(() => Init.Uniform(new Parameter<float>("b", 3), 0, 1, null!)).ParamName);
        var oneD = Assert.Throws<ArgumentException>(() => Init.KaimingUniform(new Parameter<float>("bias", 3), rng));
        Assert.Equal("p", oneD.ParamName); Assert.Contains("bias [3]", oneD.Message);
    }
}
