using ConvViz.Engine.Imaging;

namespace ConvViz.Tests.Server;

/// <summary>
/// A Y4M clip for Chromium's fake camera (--use-file-for-fake-video-capture): YUV4MPEG2 4:2:0 frames of gray images,
/// each image shown for a run of frames, then the next; Chromium loops the clip. Gray pixels are the luma plane as they
/// are (full range, C420jpeg) with neutral chroma (128).
/// </summary>
internal static class FakeCameraClip
{
    /// <summary>Writes <paramref name="images"/> (gray, any size) scaled to <paramref name="size"/> x <paramref name="size"/>
    /// by nearest neighbour, <paramref name="framesEach"/> frames each, at <paramref name="framesPerSecond"/>.</summary>
    public static void Write(string path, IReadOnlyList<Image8> images, int size, int framesEach, int framesPerSecond)
    {
        if (size % 2 != 0) throw new ArgumentException($"size {size} must be even for 4:2:0 chroma", nameof(size));
        using var file = File.Create(path);
        file.Write(System.Text.Encoding.ASCII.GetBytes($"YUV4MPEG2 W{size} H{size} F{framesPerSecond}:1 Ip A1:1 C420jpeg\n"));
        var chroma = new byte[size / 2 * (size / 2) * 2];
        Array.Fill(chroma, (byte)128);
        foreach (var image in images)
        {
            if (image.Channels != 1) throw new ArgumentException($"the clip's images are gray; one has {image.Channels} channels", nameof(images));
            byte[] luma = Scaled(image, size);
            for (int frame = 0; frame < framesEach; frame++)
            {
                file.Write("FRAME\n"u8);
                file.Write(luma);
                file.Write(chroma);
            }
        }
    }

    private static byte[] Scaled(Image8 image, int size)
    {
        var pixels = new byte[size * size];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                pixels[y * size + x] = image.Pixels[y * image.Height / size * image.Width + x * image.Width / size];
        return pixels;
    }
}
