#!/usr/bin/env bash
# Runs every ConvViz test. Installs what the tests need first when it is missing:
#   libonnx-testdata  the ONNX backend conformance vectors (/usr/share/libonnx-testdata/data)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -d /usr/share/libonnx-testdata/data/node ] || missing+=(libonnx-testdata)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

dotnet test ConvVizGpu.sln -c Release "$@"
