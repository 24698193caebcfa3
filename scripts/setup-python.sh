#!/usr/bin/env bash
# Creates <repo>/.venv for the reference LoRA trainer (trainer/) and its tests.
#
#   bash scripts/setup-python.sh          # idempotent; fast when already set up
#   .venv/bin/python -m pytest test/trainer -q
#
# Order matters: torch is installed first and pinned to the exact CPU build
# kept on disk (a bare `torch` or a range would pull gigabytes of CUDA wheels);
# every later pip call gets the same pin as a constraint so no resolver step can
# upgrade it. The trainer package itself is installed with --no-deps.
# Runs as root with no stdin; set PYTHON to choose the interpreter (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

TORCH_PIN="torch==2.13.0"
REQS=(
  "transformers==5.23.0"
  "peft==0.21.2"
  "accelerate==1.15.0"
  "safetensors==0.8.0"
  "pytest==9.2.0"
)

# The stamp holds a hash of the pins and of the trainer's pyproject, so editing
# either triggers a reinstall while an unchanged setup returns in milliseconds.
HASH="$( { echo "$TORCH_PIN"; printf '%s\n' "${REQS[@]}"; cat "$ROOT/trainer/pyproject.toml"; } | sha256sum | cut -d' ' -f1)"
STAMP="$VENV/.lora-queue-setup.stamp"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  echo "setup-python: .venv up to date"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup-python: creating $VENV"
  "$PY" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
echo "$TORCH_PIN" >"$CONSTRAINTS"

# On a machine where torch is already present in the venv (e.g. a CUDA build
# installed by hand on a GPU box) keep it rather than replacing it with the CPU wheel.
if "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
  echo "setup-python: keeping installed torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
  : >"$CONSTRAINTS"
else
  "${PIP[@]}" install "$TORCH_PIN"
fi

"${PIP[@]}" install -c "$CONSTRAINTS" "${REQS[@]}"
"${PIP[@]}" install --no-deps -e "$ROOT/trainer"

echo "$HASH" >"$STAMP"
echo "setup-python: done"
