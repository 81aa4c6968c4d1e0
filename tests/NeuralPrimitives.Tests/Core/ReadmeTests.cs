using System.Text.RegularExpressions;

namespace NeuralPrimitives.Tests.Core;

/// <summary>The README's quick start must be exactly the compiled sample, so it compiles as written.</summary>
public class ReadmeTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NeuralPrimitives.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (NeuralPrimitives.sln) not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void QuickStartInReadmeIsTheCompiledSample()
    {
        var root = RepoRoot();
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).Replace("\r\n", "\n");
        var sample = File.ReadAllText(Path.Combine(root, "samples", "QuickStart", "Program.cs")).Replace("\r\n", "\n").Trim();
        var blocks = Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value.Trim());
        Assert.Contains(sample, blocks);
    }
}
