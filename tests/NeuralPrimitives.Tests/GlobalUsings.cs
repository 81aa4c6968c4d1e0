global using System.Numerics;
global using System.Numerics.Tensors;
global using NeuralPrimitives;
global using Xunit;
global using NeuralPrimitives.Tests.Support;
