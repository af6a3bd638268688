return ConvViz.Cli.CliApp.Run(args);
