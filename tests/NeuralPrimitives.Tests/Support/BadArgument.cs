using Xunit;

namespace NeuralPrimitives.Tests.Support;

/// <summary>The check of every bad-input test: the call is refused with an ArgumentException (or a subclass).</summary>
public static class BadArgument
{
    /// <summary>
    /// Asserts that <paramref name="action"/> throws an <see cref="ArgumentException"/> (or a subclass) naming
    /// <paramref name="param"/>, whose message contains every one of <paramref name="inMessage"/>.
    /// </summary>
    public static void Throws(Action action, string param, params string[] inMessage)
    {
        var e = Assert.ThrowsAny<ArgumentException>(action);
        Assert.Equal(param, e.ParamName);
        foreach (var s in inMessage) Assert.Contains(s, e.Message);
    }
}
