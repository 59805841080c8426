# Sourced by the justfile: installs libtorch if needed and exports what torch-sys and the binaries need.
# shellcheck shell=bash
_tfkd_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TFKD_VENV=$("$_tfkd_root/scripts/setup-torch.sh")
export TFKD_VENV
LIBTORCH=$TFKD_VENV/libtorch
export LIBTORCH
# The venv's torch is pinned by setup-torch.sh; torch-sys skips its own check when LIBTORCH is set.
export LIBTORCH_BYPASS_VERSION_CHECK=1
