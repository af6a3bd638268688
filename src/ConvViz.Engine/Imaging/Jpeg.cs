using System.Runtime.InteropServices;

namespace ConvViz.Engine.Imaging;

/// <summary>
/// JPEG decoding through libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0), loaded at run
/// time: without it, reading a JPEG says in one line what to install. Gray JPEGs decode to one
/// channel, everything else (YCbCr, CMYK converted by the library) to RGB.
/// </summary>
internal static class Jpeg
{
    public const string InstallHint = "reading JPEG needs libjpeg-turbo: apt-get install libturbojpeg0";

    public static bool IsJpeg(ReadOnlySpan<byte> data) => data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;

    public static Image8 Decode(byte[] data, string name)
    {
        if (!IsJpeg(data)) throw new InvalidDataException($"{name}: not a JPEG file");
        IntPtr handle;
        try
        {
            handle = Native.tjInitDecompress();
        }
        catch (DllNotFoundException)
        {
            throw new NotSupportedException($"{name}: {InstallHint}");
        }
        if (handle == IntPtr.Zero) throw new InvalidDataException($"{name}: libjpeg-turbo could not create a decompressor");
        try
        {
            if (Native.tjDecompressHeader3(handle, data, (nuint)data.Length, out int width, out int height, out _, out int colorspace) != 0)
                throw new InvalidDataException($"{name}: {Error(handle)}");
            if (width < 1 || height < 1) throw new InvalidDataException($"{name}: the JPEG header gives no image size (truncated or damaged)");
            ImageLimits.Check(width, height, name);
            int channels = colorspace == ColorspaceGray ? 1 : 3;
            var pixels = new byte[(long)width * height * channels];
            int format = channels == 1 ? PixelFormatGray : PixelFormatRgb;
            if (Native.tjDecompress2(handle, data, (nuint)data.Length, pixels, width, width * channels, height, format, 0) != 0
                && Native.tjGetErrorCode(handle) == ErrorFatal)
                throw new InvalidDataException($"{name}: {Error(handle)}");
            return new Image8(width, height, channels, pixels);
        }
        finally
        {
            Native.tjDestroy(handle);
        }
    }

    private static string Error(IntPtr handle) => Marshal.PtrToStringAnsi(Native.tjGetErrorStr2(handle)) ?? "libjpeg-turbo could not decode it";

    // turbojpeg.h: TJPF_RGB = 0, TJPF_GRAY = 6, TJCS_GRAY = 2, TJERR_FATAL = 1 (TJERR_WARNING = 0: decoded despite e.g. trailing garbage).
    private const int PixelFormatRgb = 0, PixelFormatGray = 6, ColorspaceGray = 2, ErrorFatal = 1;

    private static class Native
    {
        private const string Library = "libturbojpeg.so.0";

        [DllImport(Library)] public static extern IntPtr tjInitDecompress();
        [DllImport(Library)] public static extern int tjDestroy(IntPtr handle);
        [DllImport(Library)] public static extern IntPtr tjGetErrorStr2(IntPtr handle);
        [DllImport(Library)] public static extern int tjGetErrorCode(IntPtr handle);

        [DllImport(Library)]
        public static extern int tjDecompressHeader3(IntPtr handle, byte[] jpegBuf, nuint jpegSize,
            out int width, out int height, out int subsampling, out int colorspace);

        [DllImport(Library)]
        public static extern int tjDecompress2(IntPtr handle, byte[] jpegBuf, nuint jpegSize, byte[] dstBuf,
            int width, int pitch, int height, int pixelFormat, int flags);
    }
}
