using System.CommandLine;
using ConvViz.OpenCL;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz devices`: the compute backends this build has and the OpenCL devices found.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List the compute backends and the OpenCL devices found");
        command.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn("backend").AddColumn("device").AddColumn("about");
            foreach (var (name, summary) in BackendCatalog.All)
            {
                string device;
                try
                {
                    using var backend = BackendCatalog.Create(name);
                    device = backend.Description;
                }
                catch (NotSupportedException e)
                {
                    device = "unavailable: " + e.Message;
                }
                table.AddRow(name, Markup.Escape(device), Markup.Escape(summary));
            }
            AnsiConsole.Write(table);
            AnsiConsole.Write(OpenCLTable());
        });
        return command;
    }

    /// <summary>Every OpenCL device with its compute units and memory, or the one line that says
    /// why there is none and what to install.</summary>
    private static Table OpenCLTable()
    {
        var table = new Table().Border(TableBorder.Rounded).Title("OpenCL devices")
            .AddColumn("--device").AddColumn("platform").AddColumn("device").AddColumn("type")
            .AddColumn(new TableColumn("compute units").RightAligned()).AddColumn(new TableColumn("memory").RightAligned())
            .AddColumn("version");
        try
        {
            foreach (var d in OpenCLDevices.List())
                table.AddRow(d.Index.ToString(), Markup.Escape(d.PlatformName), Markup.Escape(d.DeviceName), d.DeviceType,
                    d.ComputeUnits.ToString(), $"{d.GlobalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB", Markup.Escape(ShortVersion(d.OpenCLVersion)));
        }
        catch (OpenCLUnavailableException e)
        {
            table.AddRow("", Markup.Escape(e.Message), "", "", "", "", "");
        }
        return table;
    }

    /// <summary>"OpenCL 3.0 PoCL HSTR: ..." → "OpenCL 3.0": the vendor suffix is noise in a table.</summary>
    private static string ShortVersion(string version) => string.Join(' ', version.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(2));
}
