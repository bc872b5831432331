#!/usr/bin/env bash
# Set up the ort-training profile: a separate virtual environment with onnxruntime-training-cpu 1.19.2
# (the last release on PyPI) and slimir, for slimir.runtime.ort_training and its cross-check test.
#
#   scripts/setup-ort-training.sh [VENV_DIR]      # default: .venv-ort-training in the repository root
#
# Why a separate environment: onnxruntime-training installs the same `onnxruntime` module as the plain
# `onnxruntime` package slimir depends on, so the two must never share an environment. slimir goes in with
# --no-deps (its own requirement `onnxruntime` would pull the plain package on top) and its other
# dependencies are listed here explicitly.
#
# No torch: `onnxruntime/training/__init__.py` imports torch-only modules (amp, optim, ORTModule), but
# `onnxruntime.training.artifacts`, `.onnxblock` and `.api` do not use torch; slimir.runtime.ort_training
# imports those submodules without running that __init__ (see _import_ort_training there). Set
# WITH_TORCH=1 to install a CPU torch anyway (only for users who also want ORTModule).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-ort-training}"
PY="${PYTHON:-python3}"

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "onnxruntime-training-cpu==1.19.2" "numpy>=1.24" "onnx>=1.16"
# slimir's dependencies except onnxruntime (the training build above provides the module)
"$VENV/bin/python" -m pip install -q "onnxscript>=0.3" "google-crc32c>=1.5" "safetensors>=0.4" "tensorboardX>=2.6" \
    "tqdm>=4.60"
"$VENV/bin/python" -m pip install -q --no-deps -e .
if [ "${WITH_TORCH:-0}" = "1" ]; then
    "$VENV/bin/python" -m pip install -q torch
fi
# never both: a plain onnxruntime pulled in by anything above would shadow the training build
if "$VENV/bin/python" -m pip show -q onnxruntime >/dev/null 2>&1; then
    echo "setup-ort-training: the plain onnxruntime got installed into $VENV; removing it" >&2
    "$VENV/bin/python" -m pip uninstall -q -y onnxruntime onnxruntime-training-cpu
    "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "onnxruntime-training-cpu==1.19.2"
fi
"$VENV/bin/python" - <<'EOF'
import onnxruntime
from slimir.runtime.ort_training import import_ort_training
artifacts, api = import_ort_training()
print(f"ort-training profile ready: onnxruntime {onnxruntime.__version__} with the training API "
      f"({api.__name__}, {artifacts.__name__})")
EOF
