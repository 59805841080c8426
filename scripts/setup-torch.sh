#!/usr/bin/env bash
# Installs libtorch 2.11.0 from PyPI into a project-local venv (idempotent).
#
# Variant: "cpu" (slim, ~1.4 GB: torch without its nvidia deps, plus the two CUDA runtime libs that
# libtorch_cpu links against) or "cuda" (the full cu130 wheel, ~4.6 GB). Default: cuda when
# `nvidia-smi` works, cpu otherwise; TFKD_TORCH=cpu|cuda overrides.
# Prints the venv path on stdout when done; everything else goes to stderr. `--check`: exit 0 if installed, 1 if
# not, installing nothing.
set -euo pipefail

TORCH_VERSION=2.11.0
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${TFKD_VENV:-$root/.venv-torch}

variant=${TFKD_TORCH:-}
if [ -z "$variant" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then variant=cuda; else variant=cpu; fi
fi
case "$variant" in
  cpu|cuda) ;;
  *) echo "error: TFKD_TORCH must be 'cpu' or 'cuda', got '$variant'" >&2; exit 2 ;;
esac

stamp="$venv/.tfkd-torch"
want="torch==$TORCH_VERSION variant=$variant"
# $venv/libtorch links to the installed libtorch (what LIBTORCH names); it is made last, so a build that starts
# before the installation ends finds no libtorch rather than half of one (scripts/cargo-torch.sh).
link_libtorch() {
  ln -sfn "$(ls -d "$venv"/lib/python3*/site-packages/torch | head -n 1)" "$venv/libtorch"
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  [ "${1:-}" = --check ] && exit 0
  [ -e "$venv/libtorch" ] || link_libtorch
  echo "$venv"
  exit 0
fi
[ "${1:-}" = --check ] && exit 1

py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3 python; do
    if command -v "$c" >/dev/null 2>&1; then py=$c; break; fi
  done
fi
if [ -z "$py" ]; then
  echo "error: tfkd needs Python 3 with pip to install libtorch $TORCH_VERSION from PyPI; none found on PATH (set PYTHON=/path/to/python3)" >&2
  exit 1
fi
if ! "$py" -m pip --version >/dev/null 2>&1; then
  echo "error: '$py' has no pip; install pip (e.g. 'apt-get install python3-pip' or 'python3 -m ensurepip') and retry" >&2
  exit 1
fi

if [ "$variant" = cuda ]; then
  why="full CUDA build (~2.7 GB download, 4.6 GB on disk): $( [ -n "${TFKD_TORCH:-}" ] && echo "TFKD_TORCH=cuda" || echo "nvidia-smi found a GPU")"
else
  why="slim CPU install (~1.4 GB): no GPU seen (set TFKD_TORCH=cuda for the full CUDA build)"
fi
echo "tfkd: installing libtorch $TORCH_VERSION into $venv — $why" >&2
start=$(date +%s)
rm -rf "$venv"
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q)
if [ "$variant" = cuda ]; then
  "${pip[@]}" "torch==$TORCH_VERSION"
else
  # torch's own Python deps first, then torch itself without its ~2.5 GB of nvidia deps (pip would warn
  # about those missing deps on every later install otherwise). libtorch_cpu.so still links
  # libcudart.so.13 and libcupti.so.13, so those two small runtime packages come too.
  "${pip[@]}" filelock typing-extensions sympy networkx jinja2 fsspec numpy
  "${pip[@]}" --no-deps "torch==$TORCH_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
fi
link_libtorch
echo "$want" > "$stamp"
echo "tfkd: libtorch $TORCH_VERSION ($variant) ready in $(( $(date +%s) - start )) s" >&2
echo "$venv"
