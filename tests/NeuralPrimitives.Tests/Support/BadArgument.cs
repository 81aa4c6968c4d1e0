namespace NeuralPrimitives.Tests.Support;

/// <summary>The check of every bad-input test: the call is refused with an ArgumentException that names the argument.</summary>
public static class BadArgument
{
    /// <summary>
    /// Asserts that <paramref name="action"/> throws an <see cref="ArgumentException"/> (or a subclass) naming
    /// <paramref name="param"/>, whose message contains every one of <paramref name="inMessage"/>.
    /// </summary>
    public static void Throws(Action action, string param, params string[] inMessage) =>
        NamesAndSays(Assert.ThrowsAny<ArgumentException>(action), param, inMessage);

    /// <summary>As <see cref="Throws"/>, but the exception must be exactly a <typeparamref name="TException"/>.</summary>
    public static void ThrowsExactly<TException>(Action action, string param, params string[] inMessage) where TException : ArgumentException =>
        NamesAndSays(Assert.Throws<TException>(action), param, inMessage);

    private static void NamesAndSays(ArgumentException e, string param, string[] inMessage)
    {
        Assert.Equal(param, e.ParamName);
        foreach (var s in inMessage) Assert.Contains(s, e.Message);
    }
}
