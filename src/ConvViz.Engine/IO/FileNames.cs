namespace ConvViz.Engine.IO;

public static class FileNames
{
    /// <summary>A layer or tensor name usable as a file name: characters no file system takes (and ':' and '\') become '_'.</summary>
    public static string ForLayer(string layer) =>
        string.Concat(layer.Select(c => Path.GetInvalidFileNameChars().Contains(c) || c is ':' or '\\' ? '_' : c));
}
