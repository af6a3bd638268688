#!/usr/bin/env bash
# Runs every ConvViz test. Installs what the tests need first when it is missing:
#   libonnx-testdata                    the ONNX backend conformance vectors (/usr/share/libonnx-testdata/data)
#   ocl-icd-libopencl1, pocl-opencl-icd the OpenCL loader and PoCL, an OpenCL device on the CPU
#   python3-onnx                        the ONNX project's own checker, run on the models ConvViz exports
#   python3-torch, python3-torchvision  PyTorch 1.13 and torchvision 0.14: tests/fixtures/torchvision/export_models.py
#                                       exports six torchvision networks on first use (into ~/.cache/convviz-tests,
#                                       about 750 MB) for Parity/TorchvisionParityTests.cs
#   dataset-fashion-mnist               Fashion-MNIST (/usr/share/datasets/fashion-mnist): training, eval and the default bundle
#   python3-pil                         Pillow, which made the image fixtures (tests/fixtures/images/make_formats.py)
#   chromium                            the browser the report test opens report.html in (driven by Playwright)
#   fonts-dejavu-core                   DejaVu Sans, the font figures draw their labels, titles and chart axes in
#                                       (Figures/FigureTests.cs reads those pixels; convviz finds it at run time)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in libonnx-testdata ocl-icd-libopencl1 pocl-opencl-icd python3-onnx python3-torch python3-torchvision python3-pil dataset-fashion-mnist chromium fonts-dejavu-core; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

dotnet test ConvVizGpu.sln -c Release "$@"

# The Cpu backend picks Vector512, Vector256 or scalar code at run time. This machine runs the
# widest; run the Cpu-vs-Reference bodies again with AVX-512 switched off (the AVX2 paths) and with
# every hardware intrinsic switched off (the scalar paths), so no path goes untested.
simd_filter="FullyQualifiedName~CpuParityTests|FullyQualifiedName~Sgemm|FullyQualifiedName~CpuOnnx"
echo "again without AVX-512:"
DOTNET_EnableAVX512=0 dotnet test tests/ConvViz.Tests -c Release --no-build --filter "$simd_filter"
echo "again without any SIMD:"
DOTNET_EnableHWIntrinsic=0 dotnet test tests/ConvViz.Tests -c Release --no-build --filter "$simd_filter"
