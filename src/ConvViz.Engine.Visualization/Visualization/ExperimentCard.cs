using System.Text.Json;
using System.Text.Json.Serialization;
using ConvViz.Engine.IO;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// What a visualization run did, written as JSON next to its images so it can be repeated and
/// compared: the method, model, input and target, every parameter, the timings and the files.
/// </summary>
public sealed class ExperimentCard(string method, string model, string input)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // A run whose objective diverged still gets its card: NaN and infinities are written as "NaN", "Infinity".
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // Enum values by name ("Constant", not 0): a card is read by people and outlives the enum's order.
        Converters = { new JsonStringEnumConverter() },
    };

    public string Method { get; } = method;
    public string Model { get; } = model;
    public string Input { get; } = input;
    public string? Target { get; set; }
    public string Created { get; } = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
    public Dictionary<string, object?> Parameters { get; } = [];
    public Dictionary<string, double> TimingsMs { get; } = [];
    public List<string> Outputs { get; } = [];
    public Dictionary<string, object?> Results { get; } = [];

    /// <summary>
    /// Writes the card as a new file in <paramref name="folder"/> and returns its path: &lt;method&gt;.json
    /// for the folder's first run of the method, then &lt;method&gt;-2.json, &lt;method&gt;-3.json, ...,
    /// one past the highest number there. A run never replaces another run's card (the images of a
    /// method's folder are the last run's), and the highest number is the newest card.
    /// </summary>
    public string Save(string folder)
    {
        Directory.CreateDirectory(folder);
        string text = JsonSerializer.Serialize(this, Json);
        // A run racing for the same number loses the name to the other and takes the next one.
        for (int run = LastRun(folder) + 1; ; run++)
        {
            string path = Path.Combine(folder, FileName(Method, run));
            if (AtomicFile.TryWriteNewText(path, text)) return path;
        }
    }

    /// <summary>The card file of the <paramref name="run"/>-th run (from 1) of <paramref name="method"/> in a folder.</summary>
    public static string FileName(string method, int run) => run == 1 ? $"{method}.json" : $"{method}-{run}.json";

    /// <summary>The highest run number among the cards of this method in <paramref name="folder"/> (0 when none).</summary>
    private int LastRun(string folder)
    {
        int last = 0;
        foreach (string file in Directory.EnumerateFiles(folder, $"{Method}*.json"))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (name == Method) last = Math.Max(last, 1);
            else if (name.StartsWith($"{Method}-", StringComparison.Ordinal) && name[(Method.Length + 1)..] is { Length: > 0 and < 10 } digits
                     && digits.All(char.IsAsciiDigit) && int.Parse(digits) is >= 2 and var run)
                last = Math.Max(last, run);
        }
        return last;
    }
}
