// The pictures `train` writes (ScottPlot 5, PNG) into --out:
//   loss.png            training loss per step (light) and its moving average, validation loss at each evaluation
//   gradient_flow.png   recurrent kinds: ‖∂L/∂h_t‖ against the distance from the predicted position, for a loss at the
//                       last of 128 positions (Models.cs: RecurrentModel.GradientFlow), on a log scale. The trained model's
//                       curve, and the curve of every other recurrent checkpoint already in --out (lstm.safetensors,
//                       gru.safetensors, rnn.safetensors) on the same text, so training `--model rnn` and then the
//                       default LSTM into one folder puts the vanishing RNN gradient and the LSTM's beside each other
//   attention.png       transformer: the attention weights of every head of the last layer over a generated line
//   embeddings_pca.png  the character embeddings projected on their first two principal components, each point
//                       labelled with its character and coloured by class (upper case, lower case, digit, punctuation,
//                       space); letters of one case and the vowels tend to gather
using ScottPlot;

namespace CharLm;

internal static class Plots
{
    public const int GradientFlowLength = 128;

    public static List<string> WriteAll(string folder, ICharModel model, Corpus corpus, List<LossPoint> train, List<LossPoint> validation,
        string sample, Ui ui)
    {
        var written = new List<string>();
        string loss = Path.Combine(folder, "loss.png");
        Loss(loss, model.Config.Model, train, validation);
        written.Add(loss);
        if (model is RecurrentModel recurrent)
        {
            var curves = new List<(string, double[])> { (model.Config.Model, recurrent.GradientFlow(corpus.Validation, 64, GradientFlowLength)) };
            foreach (var kind in ModelConfig.Kinds.Where(k => k != model.Config.Model && k != "transformer"))
            {
                string other = Checkpoint.PathFor(folder, kind);
                if (!File.Exists(other)) continue;
                try
                {
                    var loaded = Checkpoint.Load(other);
                    if (loaded.Model is RecurrentModel r && loaded.Vocabulary.SameAs(corpus.Vocabulary))
                        curves.Add(($"{kind} ({other})", r.GradientFlow(corpus.Validation, 64, GradientFlowLength)));
                }
                catch (UserError e) { ui.Line($"(gradient flow: skipped {other}: {e.Message})"); }
            }
            string flow = Path.Combine(folder, "gradient_flow.png");
            GradientFlow(flow, curves);
            written.Add(flow);
        }
        if (model is GptCharModel gpt && gpt.AttentionLine(corpus.Vocabulary, sample) is { } map)
        {
            string attention = Path.Combine(folder, "attention.png");
            Attention(attention, map.Line, map.Heads);
            written.Add(attention);
        }
        string pca = Path.Combine(folder, "embeddings_pca.png");
        var (w, dim) = model.Embeddings;
        EmbeddingsPca(pca, w, corpus.Vocabulary.Count, dim, corpus.Vocabulary);
        written.Add(pca);
        return written;
    }

    public static void Loss(string path, string model, List<LossPoint> train, List<LossPoint> validation)
    {
        var plot = new Plot();
        if (train.Count > 0)
        {
            double[] xs = train.Select(p => (double)p.Step).ToArray();
            var raw = plot.Add.Scatter(xs, train.Select(p => p.Loss).ToArray());
            raw.Color = Colors.SteelBlue.WithAlpha(0.25);
            raw.MarkerSize = 0;
            raw.LegendText = "training loss (per step)";
            var avg = plot.Add.Scatter(xs, MovingAverage(train.Select(p => p.Loss).ToArray(), 25));
            avg.Color = Colors.SteelBlue;
            avg.LineWidth = 2;
            avg.MarkerSize = 0;
            avg.LegendText = "training loss (moving average of 25)";
        }
        if (validation.Count > 0)
        {
            var val = plot.Add.Scatter(validation.Select(p => (double)p.Step).ToArray(), validation.Select(p => p.Loss).ToArray());
            val.Color = Colors.OrangeRed;
            val.LineWidth = 2;
            val.MarkerSize = 7;
            val.LegendText = $"validation loss (an eighth of the split; the last point all of it: {validation[^1].Loss:0.000})";
        }
        plot.Title($"Character-level {model}: cross-entropy");
        plot.XLabel("step");
        plot.YLabel("loss (nats/char)");
        double top = Math.Min(4.5, train.Count > 0 ? train.Max(p => p.Loss) : 4.5);
        double bottom = Math.Min(train.Count > 0 ? train.Min(p => p.Loss) : 1, validation.Count > 0 ? validation.Min(p => p.Loss) : 1);
        plot.Axes.SetLimitsY(Math.Max(0, bottom - 0.1), top + 0.1);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 560);
    }

    public static void GradientFlow(string path, List<(string Name, double[] Norms)> curves)
    {
        var plot = new Plot();
        var palette = new[] { Colors.SteelBlue, Colors.OrangeRed, Colors.SeaGreen, Colors.Purple };
        for (int i = 0; i < curves.Count; i++)
        {
            var norms = curves[i].Norms;
            int n = norms.Length;
            double[] xs = Enumerable.Range(0, n).Select(k => (double)k).ToArray();                   // k = T − 1 − t steps back
            double[] ys = Enumerable.Range(0, n).Select(k => Math.Log10(Math.Max(norms[n - 1 - k], 1e-30))).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.Color = palette[i % palette.Length];
            line.LineWidth = 2;
            line.MarkerSize = 0;
            line.LegendText = curves[i].Name;
        }
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true,
            LabelFormatter = y => $"1e{y:0}",
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        };
        plot.Axes.Left.TickGenerator = ticks;
        plot.Title("Gradient flow: how far back a prediction's gradient reaches");
        plot.XLabel("steps back from the predicted character (T − 1 − t)");
        plot.YLabel("‖∂L/∂h_t‖ (log scale)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 560);
    }

    /// <summary>Rows: query positions (the line's characters), columns: key positions, one panel per head side by side.</summary>
    public static void Attention(string path, string line, double[][,] heads)
    {
        int n = line.Length, h = heads.Length;
        var intensities = new double[n, h * (n + 1) - 1];
        for (int head = 0; head < h; head++)
            for (int q = 0; q < n; q++)
                for (int k = 0; k < n; k++) intensities[q, head * (n + 1) + k] = heads[head][q, k];
        for (int head = 1; head < h; head++)
            for (int q = 0; q < n; q++) intensities[q, head * (n + 1) - 1] = double.NaN;
        var plot = new Plot();
        var map = plot.Add.Heatmap(intensities);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        int cols = intensities.GetLength(1);
        map.Position = new CoordinateRect(0, cols - 1, 0, n - 1);
        plot.Add.ColorBar(map);
        var bottom = new ScottPlot.TickGenerators.NumericManual();
        var left = new ScottPlot.TickGenerators.NumericManual();
        for (int head = 0; head < h; head++)
            for (int k = 0; k < n; k++) bottom.AddMajor(head * (n + 1) + k, Show(line[k]));
        for (int q = 0; q < n; q++) left.AddMajor(n - 1 - q, Show(line[q]));
        plot.Axes.Bottom.TickGenerator = bottom;
        plot.Axes.Left.TickGenerator = left;
        plot.Title($"Attention of the last layer's {h} heads over a generated line (query ↓, key →)");
        plot.XLabel("key position, one panel per head");
        plot.YLabel("query position");
        plot.Axes.SetLimits(-0.5, cols - 0.5, -0.5, n - 0.5);
        plot.SavePng(path, Math.Min(4000, 120 + 14 * cols + 160), 120 + 14 * n + 80);
    }

    public static void EmbeddingsPca(string path, float[] weights, int rows, int dim, Vocabulary vocabulary)
    {
        var (xs, ys, explained) = Pca2(weights, rows, dim);
        var plot = new Plot();
        var classes = new (string Name, Func<int, bool> Is, Color Color)[]
        {
            ("upper case", c => c < 0x10000 && char.IsUpper((char)c), Colors.OrangeRed),
            ("lower case", c => c < 0x10000 && char.IsLower((char)c), Colors.SteelBlue),
            ("digit", c => c < 0x10000 && char.IsDigit((char)c), Colors.SeaGreen),
            ("space", c => c < 0x10000 && char.IsWhiteSpace((char)c), Colors.Gray),
            ("punctuation, other", _ => true, Colors.Purple),
        };
        var assigned = new bool[rows];
        foreach (var (name, isClass, color) in classes)
        {
            var ids = Enumerable.Range(0, rows).Where(i => !assigned[i] && isClass(vocabulary.CodePoints[i])).ToArray();
            if (ids.Length == 0) continue;
            foreach (int i in ids) assigned[i] = true;
            var points = plot.Add.ScatterPoints(ids.Select(i => xs[i]).ToArray(), ids.Select(i => ys[i]).ToArray());
            points.Color = color;
            points.MarkerSize = 6;
            points.LegendText = name;
            foreach (int i in ids)
            {
                var label = plot.Add.Text(Show(vocabulary.CodePoints[i]), xs[i], ys[i]);
                label.LabelFontColor = color;
                label.LabelFontSize = 13;
                label.OffsetX = 4;
                label.OffsetY = -4;
            }
        }
        plot.Title("Character embeddings, first two principal components");
        plot.XLabel($"PC 1 ({100 * explained.Item1:0}% of the variance)");
        plot.YLabel($"PC 2 ({100 * explained.Item2:0}% of the variance)");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 900, 700);
    }

    /// <summary>
    /// The rows' coordinates on the first two principal components: X centred, Gram matrix G = X·Xᵀ [rows, rows], its two
    /// leading eigenvectors u₁, u₂ by power iteration with deflation; coordinate_i = √λ·u_i. Also the explained fractions.
    /// </summary>
    public static (double[] X, double[] Y, (double, double) Explained) Pca2(float[] weights, int rows, int dim)
    {
        var centred = new double[rows, dim];
        for (int j = 0; j < dim; j++)
        {
            double mean = 0;
            for (int i = 0; i < rows; i++) mean += weights[i * dim + j];
            mean /= rows;
            for (int i = 0; i < rows; i++) centred[i, j] = weights[i * dim + j] - mean;
        }
        var gram = new double[rows, rows];
        double trace = 0;
        for (int a = 0; a < rows; a++)
            for (int b = 0; b <= a; b++)
            {
                double s = 0;
                for (int j = 0; j < dim; j++) s += centred[a, j] * centred[b, j];
                gram[a, b] = gram[b, a] = s;
                if (a == b) trace += s;
            }
        var (l1, u1) = Leading(gram, rows);
        for (int a = 0; a < rows; a++)
            for (int b = 0; b < rows; b++) gram[a, b] -= l1 * u1[a] * u1[b];
        var (l2, u2) = Leading(gram, rows);
        double s1 = Math.Sqrt(Math.Max(l1, 0)), s2 = Math.Sqrt(Math.Max(l2, 0));
        return (u1.Select(v => v * s1).ToArray(), u2.Select(v => v * s2).ToArray(),
            trace > 0 ? (l1 / trace, l2 / trace) : (0, 0));
    }

    private static (double Lambda, double[] U) Leading(double[,] m, int n)
    {
        var u = new double[n];
        for (int i = 0; i < n; i++) u[i] = 1 + 0.01 * i;      // deterministic start, not orthogonal to anything in practice
        double lambda = 0;
        var next = new double[n];
        for (int iteration = 0; iteration < 500; iteration++)
        {
            for (int a = 0; a < n; a++)
            {
                double s = 0;
                for (int b = 0; b < n; b++) s += m[a, b] * u[b];
                next[a] = s;
            }
            double norm = Math.Sqrt(next.Sum(v => v * v));
            if (norm == 0) return (0, u);
            for (int a = 0; a < n; a++) next[a] /= norm;
            double change = 0;
            for (int a = 0; a < n; a++) change += Math.Abs(next[a] - u[a]);
            (u, next) = (next, u);
            lambda = norm;
            if (change < 1e-12) break;
        }
        return (lambda, u);
    }

    private static double[] MovingAverage(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }

    private static string Show(char c) => Show((int)c);

    private static string Show(int codePoint) => codePoint switch
    {
        '\n' => "\\n",
        ' ' => "␣",
        '\t' => "\\t",
        _ => char.ConvertFromUtf32(codePoint),
    };
}
