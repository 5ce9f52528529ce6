#!/usr/bin/env bash
# Installs what the PyTorch baselines need (bench/sd-kernels.ts, bench/baselines/*.py): Debian's python3-torch
# (CPU build). The ONNX export of bench/baselines/sd15.py needs nothing more: torch 1.13's exporter writes the
# protobuf itself (opset 17, weights over 2 GB as external data), so python3-onnx is not installed; onnxruntime-node
# is an npm devDependency of bench/ whose CPU binaries ship in the package.
# Idempotent: does nothing when some Python already imports torch. Needs root (developers and CI run as root).
# Debian's package installs into /usr/bin/python3's dist-packages; a pyenv or other `python3` earlier on PATH
# does not see it, so the bench tries $SEMEDIT_PYTHON, `python3`, then /usr/bin/python3 (this script too).
#
#   bash bench/setup.sh
set -euo pipefail
for py in "${SEMEDIT_PYTHON:-}" python3 /usr/bin/python3; do
  [ -n "$py" ] || continue
  if "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "bench/setup.sh: $py has torch $("$py" -c 'import torch; print(torch.__version__)') already"
    exit 0
  fi
done
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y python3-torch
/usr/bin/python3 -c 'import torch; print("bench/setup.sh: /usr/bin/python3 has torch", torch.__version__)'
