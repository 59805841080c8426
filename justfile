# tfkd task runner. Every recipe that needs libtorch installs it first (once, into .venv-torch).
set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run every test of the workspace (installs libtorch on first use).
test:
    source scripts/env.sh && cargo test --workspace --all-targets

# Reproduce a paper target, e.g. `just reproduce table3 --profile smoke`.
reproduce target *args:
    source scripts/env.sh && cargo build --release -q -p tfkd && ${CARGO_TARGET_DIR:-target}/release/tfkd reproduce {{target}} {{args}}

# Show the libtorch version, CUDA/cuDNN availability, threads and folders in use.
doctor:
    source scripts/env.sh && cargo run -q -p tfkd -- doctor

# Run any tfkd subcommand through the dev build, e.g. `just tfkd doctor --json`.
tfkd *args:
    source scripts/env.sh && cargo run -q -p tfkd -- {{args}}

# Install libtorch now (normally done on demand); TFKD_TORCH=cuda forces the full CUDA build.
setup:
    scripts/setup-torch.sh
