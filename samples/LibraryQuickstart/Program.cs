// ConvViz as a library: open the built-in model, write a report on three of its samples, then optimize an
// image for one class, with progress and cancellation (Ctrl+C). Usage: LibraryQuickstart [OUT] [ITERATIONS]
using ConvViz.Catalog;
using ConvViz.Engine;
using ConvViz.Engine.Visualization;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
string output = args.Length > 0 ? args[0] : "quickstart-out";
int iterations = args.Length > 1 ? int.Parse(args[1]) : 200;

using var backend = BackendCatalog.Create("cpu");
using var bundle = ModelCatalog.Open("fashion-alexnet", backend);
var images = Enumerable.Range(0, 3).Select(bundle.Sample).Select(s => (s.Name, s.Image)).ToArray();
var (page, file) = Report.Write(bundle, images, output, progress: new ProgressAction<ReportProgress>(p => Console.WriteLine($"report {p.Images}/{p.Total}")), cancellation: cancel.Token);
Console.WriteLine($"wrote {file}: {page.Sections.Count} sections");

var target = TargetSelection.Resolve(bundle, input: null, classNameOrIndex: "Sneaker");
var options = OptimizationOptions.Preset(3).AdaptedTo(bundle.Preprocessing) with { Iterations = iterations };
var outputs = new RunOutputs(new ExperimentCard("optimize", bundle.Source, "mean plus noise"), output, Path.Combine(output, "optimize"));
var result = OptimizationRuns.Single(bundle, target, preset: 3, options, start: null, outputs,
    progress: new ProgressAction<OptimizationRunProgress>(p => Console.WriteLine($"optimize {p.Done}/{p.Total}: {p.Objective:F3}")), cancellation: cancel.Token);
Console.WriteLine($"optimized {target}: best objective {result.BestObjective:F3} at step {result.BestIteration}; wrote {string.Join(", ", outputs.Card.Outputs)}");
