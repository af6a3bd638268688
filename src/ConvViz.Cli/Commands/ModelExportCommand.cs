using System.CommandLine;
using ConvViz.Engine.Models;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz model export --model M --out DIR`: writes any model as a bundle (model.onnx with
/// its preprocessing metadata, classes.txt), ConvViz's own save format.</summary>
public static class ModelExportCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var seed = new Option<int>("--seed") { Description = "Seed of a built-in model's random weights", DefaultValueFactory = _ => 0 }.Seed();
        var output = new Option<string>("--out") { Description = "Bundle folder to write (created if missing)", Required = true };
        var command = new Command("export", "Write a model as a bundle folder: model.onnx (ONNX opset 13) and classes.txt") { model, seed, output };
        command.SetAction(result =>
        {
            if (result.Given(seed)) ModelCatalog.RefuseWeightSeed(result.GetValue(model)!, result.GetValue(seed));
            using var backend = BackendCatalog.Create("cpu");
            using var bundle = ModelCatalog.Open(result.GetValue(model)!, backend, result.GetValue(seed));
            string folder = result.GetValue(output)!;
            if (File.Exists(folder)) throw new UserError($"--out {folder} is a file; expected a folder for the bundle");
            bundle.Save(folder);
            AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(Path.Combine(folder, ModelBundle.ModelFile))}[/] and {ModelBundle.ClassesFile} " +
                                   $"({bundle.Network.Layers.Count} layers, {bundle.Network.Parameters.Sum(p => (long)p.Value.ElementCount):N0} parameters)");
        });
        return command;
    }
}
