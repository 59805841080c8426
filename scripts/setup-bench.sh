#!/usr/bin/env bash
# Bench-only venv with the full torch 2.11.0 and torchvision from PyPI (the reference pipelines need
# `import torch`, which the slim libtorch install cannot do). Idempotent; prints the venv path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${TFKD_BENCH_VENV:-$root/.venv-bench}
stamp="$venv/.tfkd-bench"
want="torch==2.11.0 torchvision pillow"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then echo "$venv"; exit 0; fi
echo "tfkd: installing the benchmark reference (torch 2.11.0 + torchvision, ~2.7 GB) into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check -q "torch==2.11.0" torchvision pillow
echo "$want" > "$stamp"
echo "$venv"
