namespace ConvViz.Engine.Backends;

/// <summary>
/// The dropout mask as a pure function of (seed, element index, ratio), so that every backend
/// (and the kernels in kernels/elementwise.cl) draws exactly the same mask without sharing RNG state.
/// </summary>
public static class DropoutMask
{
    /// <summary>A 32-bit integer hash (lowbias32 finalizer) of the seed and the index.</summary>
    public static uint Hash(uint seed, uint index)
    {
        uint h = (seed + 0x6A09E667u) * 0x9E3779B9u ^ index;
        h ^= h >> 16;
        h *= 0x7FEB352Du;
        h ^= h >> 15;
        h *= 0x846CA68Bu;
        h ^= h >> 16;
        return h;
    }

    /// <summary>True when element index survives: its hash, as a fraction of 2^32, is at least ratio.</summary>
    public static bool Keeps(uint seed, uint index, float ratio) => Hash(seed, index) * (1.0 / 4294967296.0) >= ratio;
}
