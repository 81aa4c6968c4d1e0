// The two pictures of the demo (ScottPlot 5, written as PNG):
//   accuracy_by_length.png   exact-match accuracy against source length, both models on one chart: the
//                            bottleneck model falls as the strings outgrow what one vector can hold, the
//                            attention model does not;
//   attention_heatmap.png    the attention weights a_ut of one long example: output step u down, source
//                            position t across. Reversal reads the source backwards, so the weight sits on
//                            the anti-diagonal t = L + 1 − u.
using ScottPlot;

namespace Seq2Seq;

internal static class Plots
{
    public static void Accuracy(string path, int[] lengths, ModelReport noAttention, ModelReport attention, double budgetSeconds)
    {
        var plot = new Plot();
        double[] xs = Array.ConvertAll(lengths, l => (double)l);
        foreach (var (report, color) in new[] { (noAttention, Colors.OrangeRed), (attention, Colors.SteelBlue) })
        {
            var line = plot.Add.Scatter(xs, Array.ConvertAll(report.Accuracy, a => 100 * a));
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = $"{(report == attention ? "with additive attention" : "final encoder state only")} ({report.Steps} steps)";
        }
        plot.Title($"Reversing strings: GRU encoder–decoder, {budgetSeconds:0} s of training each");
        plot.XLabel("source length");
        plot.YLabel("exact-match accuracy (%)");
        plot.Axes.SetLimits(lengths[0] - 1, lengths[^1] + 1, -3, 103);
        plot.ShowLegend(Alignment.MiddleRight);            // where neither curve usually is: long strings, mid accuracy
        plot.SavePng(path, 900, 560);
    }

    /// <summary>Rows: output steps (the decoded letters, then the end token as $); columns: source letters.</summary>
    public static void AttentionHeatmap(string path, string source, string output, double[][] weights)
    {
        int rows = weights.Length, cols = source.Length;
        var intensities = new double[rows, cols];
        for (int u = 0; u < rows; u++)
            for (int t = 0; t < cols; t++) intensities[u, t] = weights[u][t];
        var plot = new Plot();
        var map = plot.Add.Heatmap(intensities);                           // row 0 (the first output) at the top
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.Position = new CoordinateRect(0, cols - 1, 0, rows - 1);        // cell centres: x = t, y = rows − 1 − u
        plot.Add.ColorBar(map);
        plot.Axes.Bottom.TickGenerator = Ticks(cols, t => t, t => source[t].ToString());
        plot.Axes.Left.TickGenerator = Ticks(rows, u => rows - 1 - u, u => u < output.Length ? output[u].ToString() : "");
        plot.Title("Attention weights while reversing one string");
        plot.XLabel("source position (the input string)");
        plot.YLabel("output step (the decoded string, $ = end)");
        plot.Axes.SetLimits(-0.5, cols - 0.5, -0.5, rows - 0.5);
        plot.SavePng(path, 60 + 18 * cols + 160, 80 + 18 * rows + 80);
    }

    private static ScottPlot.TickGenerators.NumericManual Ticks(int count, Func<int, double> position, Func<int, string> label)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < count; i++) ticks.AddMajor(position(i), label(i));
        return ticks;
    }
}
