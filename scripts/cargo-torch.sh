#!/usr/bin/env bash
# `scripts/cargo-torch.sh SUBCOMMAND ARGS…` runs `cargo SUBCOMMAND ARGS…` with libtorch's variables
# (scripts/env.sh). Where libtorch is not installed yet (a fresh clone), its installation (scripts/setup-torch.sh:
# a ~1.4 GB download and unpacking) runs in the background while cargo builds everything that does not need it:
# `--keep-going`, with LIBTORCH naming the link the installation makes last, so torch-sys's build script fails
# cleanly until then and its dependents wait. When the installation ends, that first pass is stopped and cargo
# runs again with everything in place, and says what it says. The first pass's output (torch-sys's failure among
# it) is not shown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
  echo "usage: scripts/cargo-torch.sh SUBCOMMAND [ARGS…]" >&2
  exit 2
fi
# Without setsid (macOS has none) the first pass could not be stopped as a whole: the installation runs first.
if ! "$root/scripts/setup-torch.sh" --check && command -v setsid > /dev/null; then
  venv=${TFKD_VENV:-$root/.venv-torch}
  "$root/scripts/setup-torch.sh" > /dev/null &
  installer=$!
  echo "tfkd: building what does not need libtorch while it installs…" >&2
  # In a process group of its own (setsid), so that it can be stopped as a whole: cargo and its compilers.
  LIBTORCH="$venv/libtorch" LIBTORCH_BYPASS_VERSION_CHECK=1 setsid cargo "$1" --keep-going "${@:2}" > /dev/null 2>&1 &
  builder=$!
  # Its own group does not get the terminal's Ctrl-C: pass it on.
  trap 'kill -INT -- -"$builder" 2>/dev/null; exit 130' INT TERM
  installed=0
  wait "$installer" || installed=$?
  # torch-sys's build script and everything after it (the build's critical path) wait for libtorch: once it is
  # there, the first pass stops (what it finished is kept) and the second starts them at once, beside the rest.
  kill -INT -- -"$builder" 2>/dev/null || true
  wait "$builder" || true
  trap - INT TERM
  [ "$installed" -eq 0 ] || exit "$installed"
fi
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"
exec cargo "$@"
