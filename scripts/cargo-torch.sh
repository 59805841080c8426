#!/usr/bin/env bash
# `scripts/cargo-torch.sh SUBCOMMAND ARGS…` runs `cargo SUBCOMMAND ARGS…` with libtorch's variables
# (scripts/env.sh). Where libtorch is not installed yet (a fresh clone), its installation (scripts/setup-torch.sh:
# a ~1.4 GB download and unpacking) runs in the background while cargo builds everything that does not need it:
# `--keep-going`, with LIBTORCH naming the link the installation makes last, so torch-sys's build script fails
# cleanly until then and its dependents wait. Then cargo runs again with everything in place, and says what it
# says. The first pass's output (torch-sys's failure among it) is not shown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
  echo "usage: scripts/cargo-torch.sh SUBCOMMAND [ARGS…]" >&2
  exit 2
fi
if ! "$root/scripts/setup-torch.sh" --check; then
  venv=${TFKD_VENV:-$root/.venv-torch}
  "$root/scripts/setup-torch.sh" > /dev/null &
  installer=$!
  echo "tfkd: building what does not need libtorch while it installs…" >&2
  first=$(mktemp)
  LIBTORCH="$venv/libtorch" LIBTORCH_BYPASS_VERSION_CHECK=1 cargo "$1" --keep-going "${@:2}" > "$first" 2>&1 || true
  rm -f "$first"
  wait "$installer"
fi
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"
exec cargo "$@"
