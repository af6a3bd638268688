namespace ConvViz.Engine.Tensors;

/// <summary>Element types a tensor can hold: activations and parameters are Float32;
/// pooling switches and class labels are Int32.</summary>
public enum DataType
{
    Float32,
    Int32,
}
