using System.CommandLine;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz devices`: the backends this build can use.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List the compute backends and their devices");
        command.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn("backend").AddColumn("device").AddColumn("about");
            foreach (var (name, summary) in BackendCatalog.All)
            {
                using var backend = BackendCatalog.Create(name);
                table.AddRow(name, Markup.Escape(backend.Description), Markup.Escape(summary));
            }
            AnsiConsole.Write(table);
        });
        return command;
    }
}
