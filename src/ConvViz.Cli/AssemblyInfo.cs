using System.Runtime.CompilerServices;

// The tests drive `model fetch` through its internal overloads, with a local server and a made-up pin.
[assembly: InternalsVisibleTo("ConvViz.Tests")]
