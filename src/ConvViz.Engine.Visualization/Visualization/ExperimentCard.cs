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

    /// <summary>Writes the card as &lt;folder&gt;/&lt;method&gt;.json and returns the path.</summary>
    public string Save(string folder)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, $"{Method}.json");
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));
        return path;
    }
}
