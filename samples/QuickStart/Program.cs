using System.Numerics.Tensors;
using NeuralPrimitives;

Rng.ManualSeed(42);                                   // every random choice is seeded
var layer = new Linear<float>(inFeatures: 4, outFeatures: 3);
var gelu = new Gelu<float>();

// Data goes in as a System.Numerics.Tensors Tensor<T> over your own array (no copy).
var x = Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, [2, 4]);
var y = gelu.Forward(layer.Forward(x));               // [2, 3]
Console.WriteLine($"y = [{string.Join(", ", y.AsSpan().ToArray())}]");

// Backward: dL/dy in, dL/dx out; parameter gradients accumulate in Parameter.Grad.
var dy = Tensor.Create(new float[] { 1, 1, 1, 1, 1, 1 }, [2, 3]);
var dx = layer.Backward(gelu.Backward(dy));           // [2, 4]
foreach (var (name, p) in layer.NamedParameters())
    Console.WriteLine($"{name} {Shapes.Format(p.Shape)}: |grad| = {MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(p.Grad)):F4}");
layer.ZeroGrad();

// Prove a backward pass: central differences in double precision, like torch.autograd.gradcheck.
var check = GradientCheck.Run(new Linear<double>(4, 3), Tensor.Create(new double[] { 1, -2, 3, 0.5, 2, 1, -1, 4 }, [2, 4]));
Console.WriteLine(check);
return check.Passed ? 0 : 1;
