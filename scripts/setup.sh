#!/usr/bin/env bash
# Idempotent set-up: a .venv with rdibench (editable) and its dev tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  # Fast path: a torch/torchvision pair that pip finds on this machine's disk (no download);
  # anywhere else pip resolves the newest pair pyproject.toml's ranges allow.
  if compgen -G "/opt/pypi-more/files/torch-2.14.1-*" >/dev/null; then
    "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
  fi
fi
"${PIP[@]}" -e ".[dev,ray]"
