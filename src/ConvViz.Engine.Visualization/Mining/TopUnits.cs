using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Mining;

/// <summary>One of a unit's top images: its index in the data set, the unit's activation there (the
/// maximum over positions for a feature map) and where it peaked (0, 0 without a map).</summary>
public sealed record TopEntry(int Image, float Value, int Y, int X);

/// <summary>
/// For every channel of one layer, the k images with the highest activation seen so far, best
/// first; ties keep the image seen first (the lower index, as images arrive in order). Memory is
/// channels × k entries, whatever the number of images offered.
/// </summary>
public sealed class TopUnits
{
    private readonly List<TopEntry>[] entries;

    public TopUnits(string layer, int channels, int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException("K", k, $"K {k} must be at least 1");
        (Layer, K) = (layer, k);
        entries = Enumerable.Range(0, channels).Select(_ => new List<TopEntry>(k + 1)).ToArray();
    }

    public string Layer { get; }
    public int K { get; }
    public int Channels => entries.Length;

    /// <summary>The channel's entries so far, best first.</summary>
    public IReadOnlyList<TopEntry> Of(int channel) => entries[channel];

    /// <summary>Keeps <paramref name="entry"/> when it is among the channel's k best.</summary>
    public void Offer(int channel, TopEntry entry)
    {
        var list = entries[channel];
        if (float.IsNaN(entry.Value) || (list.Count == K && entry.Value <= list[^1].Value)) return;
        int at = list.Count;
        while (at > 0 && entry.Value > list[at - 1].Value) at--;
        list.Insert(at, entry);
        if (list.Count > K) list.RemoveAt(K);
    }

    /// <summary>
    /// Offers every image of one batch of this layer's output, shape (N, C, H, W) or (N, C); item n is
    /// image <paramref name="firstImage"/> + n. A feature map offers its maximum, at its first
    /// position in row-major order.
    /// </summary>
    public void OfferBatch(ReadOnlySpan<float> output, Shape shape, int firstImage)
    {
        if (shape[1] != Channels) throw new ArgumentException($"layer '{Layer}' output {shape} does not have {Channels} channels");
        int height = shape.Rank == 4 ? shape.H : 1, width = shape.Rank == 4 ? shape.W : 1, plane = height * width;
        for (int n = 0; n < shape.N; n++)
            for (int c = 0; c < Channels; c++)
            {
                var map = output.Slice((n * Channels + c) * plane, plane);
                int peak = 0;
                for (int i = 1; i < plane; i++)
                    if (map[i] > map[peak]) peak = i;
                Offer(c, new TopEntry(firstImage + n, map[peak], peak / width, peak % width));
            }
    }

    /// <summary>Every channel's entries, best first (for saving).</summary>
    public TopEntry[][] ToArrays() => entries.Select(list => list.ToArray()).ToArray();

    /// <summary>Restores saved entries (as <see cref="ToArrays"/> wrote them).</summary>
    public static TopUnits FromArrays(string layer, int k, TopEntry[][] saved)
    {
        var units = new TopUnits(layer, saved.Length, k);
        for (int c = 0; c < saved.Length; c++)
        {
            if (saved[c].Length > k) throw new InvalidDataException($"layer '{layer}' unit {c} holds {saved[c].Length} entries, more than k = {k}");
            units.entries[c].AddRange(saved[c]);
        }
        return units;
    }
}
