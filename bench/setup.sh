#!/usr/bin/env bash
# Installs what the PyTorch baseline of bench/sd-kernels.ts needs: Debian's python3-torch (CPU build).
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
