using PublicApiGenerator;

namespace NeuralPrimitives.Tests.PublicApi;

/// <summary>
/// The package's public surface, rendered by PublicApiGenerator and compared with the committed
/// NeuralPrimitives.approved.txt, so that every change to the API shows up in review as a diff of that file.
/// After an intended change, regenerate it: <c>NP_UPDATE_PUBLIC_API=1 dotnet test -c Release --filter PublicApi</c>
/// (writes the file in the source tree), then review and commit the diff.
/// </summary>
public class PublicApiTests
{
    private const string FileName = "NeuralPrimitives.approved.txt";

    [Fact]
    public void ThePublicApiMatchesTheCommittedSnapshot()
    {
        string actual = typeof(Module<>).Assembly.GeneratePublicApi(new ApiGeneratorOptions { IncludeAssemblyAttributes = false })
            .ReplaceLineEndings("\n");
        string approvedPath = Path.Combine(AppContext.BaseDirectory, "PublicApi", FileName);
        if (Environment.GetEnvironmentVariable("NP_UPDATE_PUBLIC_API") == "1")
        {
            File.WriteAllText(Path.Combine(SourceDirectory(), FileName), actual);
            return;
        }
        Assert.True(File.Exists(approvedPath), $"{FileName} is missing; generate it with NP_UPDATE_PUBLIC_API=1.");
        string approved = File.ReadAllText(approvedPath).ReplaceLineEndings("\n");
        if (approved == actual) return;
        var a = approved.Split('\n');
        var b = actual.Split('\n');
        int first = 0;
        while (first < a.Length && first < b.Length && a[first] == b[first]) first++;
        Assert.Fail($"The public API changed (first difference at line {first + 1}).\n" +
                    $"  approved: {(first < a.Length ? a[first] : "<end>")}\n  actual:   {(first < b.Length ? b[first] : "<end>")}\n" +
                    "Review the change, then regenerate the snapshot with NP_UPDATE_PUBLIC_API=1 dotnet test -c Release --filter PublicApi.");
    }

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
