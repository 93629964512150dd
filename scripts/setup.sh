#!/usr/bin/env bash
# Idempotent set-up: a .venv with rdibench (editable), its dev tools and the Ray extra. Safe to re-run.
# The torch / torchvision pair is pinned in constraints.txt, so every machine resolves the same pair.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,ray]"
