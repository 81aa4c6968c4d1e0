global using System.Numerics.Tensors;
global using BenchmarkDotNet.Attributes;
global using NeuralPrimitives.Benchmarks.Compare;
