// Output: plain lines go to the command's writer; coloured text and tables go through Spectre.Console. On a terminal
// the training shows a live progress bar; when the output is redirected (a file, a pipe, the tests' StringWriter) it
// prints a status line every 10 s instead, and colours are off.
using System.Diagnostics;
using Spectre.Console;

namespace CharLm;

internal sealed class Ui
{
    private readonly TextWriter _out;

    public Ui(TextWriter output, bool interactive)
    {
        _out = output;
        Interactive = interactive;
        Console = interactive
            ? AnsiConsole.Console
            : AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
                Out = new AnsiConsoleOutput(output),
            });
        if (!interactive) Console.Profile.Width = 160;
    }

    public bool Interactive { get; }

    public IAnsiConsole Console { get; }

    public void Line(string text) => _out.WriteLine(text);

    public void Text(string text) => _out.WriteLine(text);

    /// <summary>Writes a piece of text at once (streaming generation).</summary>
    public void Write(string text)
    {
        _out.Write(text);
        _out.Flush();
    }

    public void Markup(string markup) => Console.Markup(markup);

    public void Render(Spectre.Console.Rendering.IRenderable renderable) => Console.Write(renderable);

    /// <summary>Runs <paramref name="body"/>, which reports (fraction done, status) as it goes.</summary>
    public void Progress(Action<Action<double, string>> body)
    {
        if (!Interactive)
        {
            var clock = Stopwatch.StartNew();
            double next = 10;
            string last = "";
            body((fraction, status) =>
            {
                last = status;
                if (clock.Elapsed.TotalSeconds < next) return;
                next += 10;
                _out.WriteLine($"  {100 * Math.Min(1, fraction),3:0}%  {status}");
            });
            _out.WriteLine($"  100%  {last}");
            return;
        }
        Console.Progress()
            .AutoClear(false)
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(context =>
            {
                var task = context.AddTask("starting …", maxValue: 1000);
                body((fraction, status) =>
                {
                    task.Value = 1000 * Math.Clamp(fraction, 0, 1);
                    task.Description = Spectre.Console.Markup.Escape(status);
                });
                task.Value = 1000;
                task.StopTask();
            });
    }
}
