"""Exports torchvision's ResNet-50 with seeded random weights to ONNX for the `resnet` bench.

Usage: /usr/bin/python3 export_resnet50.py OUTPUT.onnx

The weights are torchvision's own initialization under torch.manual_seed(0), then the
BatchNormalization statistics and affine parameters are drawn at random too (seeded), so the
exported network is not a trivially scaled identity at every BN. Input 1x3x224x224 with a symbolic
batch dimension, so one file serves batch 1 and batch 8. The bench (ResNetBench.cs) runs this once
into its cache folder and moves the file into place itself, so a killed export leaves nothing.
Made with Debian's python3-torch 1.13 and python3-torchvision 0.14.
"""
import sys

import torch
import torchvision


def main(output_path):
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                channels = module.num_features
                module.running_mean.copy_(torch.randn(channels) * 0.1)
                module.running_var.copy_(torch.rand(channels) * 0.5 + 0.75)
                module.weight.copy_(torch.rand(channels) * 0.5 + 0.5)
                module.bias.copy_(torch.randn(channels) * 0.1)
    model.eval()
    example = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, example, output_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: export_resnet50.py OUTPUT.onnx")
    main(sys.argv[1])
