# tfkd task runner. Every recipe that needs libtorch installs it first (once, into .venv-torch).
set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run every test of the workspace, after the format and lint checks (installs libtorch on first use); the test
# binaries run side by side on the cores, slowest first (scripts/run-tests.py; docs/testing.md).
test: lint
    source scripts/env.sh && python3 scripts/run-tests.py --release --workspace --all-targets

# The fast tier, feedback on a change in minutes: formatting, every crate's unit tests, and the integration tests of
# the crates that train nothing end to end (specs and the paper's numbers, losses against PyTorch's fixtures,
# statistics, reports and their snapshots, the claims ledger, .pth files, names, I/O, records, Slurm scripts).
# `just test` runs these and the training end-to-end tests, clippy and the lint; CI runs `just test`.
test-fast:
    cargo fmt --all --check
    source scripts/env.sh && cargo test -q --workspace --lib --bins && cargo test -q -p tfkd-spec -p tfkd-losses -p tfkd-analysis -p tfkd-report -p tfkd-pth -p tfkd-names -p tfkd-io -p tfkd-records -p tfkd-slurm -p tfkd-fuzz --test '*'

# Fuzz the parsers of untrusted input for a time budget, e.g. `just fuzz spec 60` (docs/testing.md, "Fuzzing"); findings go to fuzz/found/.
fuzz target="all" seconds="120":
    source scripts/env.sh && cargo build --release -q -p tfkd-fuzz && ${CARGO_TARGET_DIR:-target}/release/tfkd-fuzz {{target}} --seconds {{seconds}}

# Formatting (rustfmt.toml), clippy with every warning an error (functions ≤ 80 lines), no import circles in a crate.
lint:
    cargo fmt --all --check
    python3 scripts/module-cycles.py
    scripts/cargo-torch.sh clippy -q --release --workspace --all-targets -- -D warnings

# Reproduce a paper target, e.g. `just reproduce table3 --profile smoke`. On a fresh clone libtorch installs while
# the crates that do not need it build (scripts/cargo-torch.sh).
reproduce target *args:
    scripts/cargo-torch.sh build --release -q -p tfkd && source scripts/env.sh && ${CARGO_TARGET_DIR:-target}/release/tfkd reproduce {{target}} {{args}}

# Show the libtorch version, CUDA/cuDNN availability, threads and folders in use.
doctor:
    source scripts/env.sh && cargo run --release -q -p tfkd -- doctor

# Run any tfkd subcommand through the dev build, e.g. `just tfkd doctor --json`.
tfkd *args:
    source scripts/env.sh && cargo run --release -q -p tfkd -- {{args}}

# Install libtorch now (normally done on demand); TFKD_TORCH=cuda forces the full CUDA build.
setup:
    scripts/setup-torch.sh

# Augmented images/s of tfkd's CPU pipeline vs torchvision's (official transforms, 2 workers), same images; `just bench-data imagenet [N]`: ImageNet's, on N full-size JPEGs.
bench-data images="20000" n="2000":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{images}}" = imagenet ]; then exec "{{just_executable()}}" -f "{{justfile()}}" bench-data-imagenet "{{n}}"; fi
    source scripts/env.sh
    bench=$(scripts/setup-bench.sh)
    archive=${TFKD_CIFAR10_JPEG:-data/cifar10-jpeg.tar.gz}
    cargo build --release -q -p tfkd
    echo "reference: torchvision pipeline, DataLoader with 2 workers…"
    ref=$("$bench/bin/python" benches/torchvision_data.py "$archive" {{images}} | "$bench/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["img_per_s"])')
    TFKD_CIFAR10_JPEG="$archive" ${CARGO_TARGET_DIR:-target}/release/tfkd bench data --images {{images}} --reference "$ref"

# ImageNet training input pipeline, tfkd vs torchvision (2 workers each), same N synthetic full-size JPEGs in a temporary folder; writes results/bench/data-imagenet.{md,json}.
bench-data-imagenet images="2000":
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/env.sh
    bench=$(scripts/setup-bench.sh)
    cargo build --release -q -p tfkd
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "images: {{images}} synthetic ILSVRC-format JPEGs in $work…"
    "$bench/bin/python" benches/imagenet_images.py "$work/imagenet" {{images}} > /dev/null
    echo "reference: torchvision pipeline, DataLoader with 2 workers…"
    "$bench/bin/python" benches/torchvision_imagenet_data.py "$work/imagenet" {{images}} --workers 2 > "$work/reference.json"
    echo "tfkd pipeline, 2 rayon threads…"
    TFKD_CACHE_DIR="$work/cache" RAYON_NUM_THREADS=2 ${CARGO_TARGET_DIR:-target}/release/tfkd bench data --source imagenet \
        --path "$work/imagenet" --images {{images}} --workers 2 --reference "$work/reference.json" --out results/bench/data-imagenet

# Training images/s per model and width on this CPU (batch 128, all threads); writes results/bench/models.{md,json}.
bench-models *args:
    source scripts/env.sh && cargo build --release -q -p tfkd && ${CARGO_TARGET_DIR:-target}/release/tfkd bench models --out results/bench/models {{args}}

# The training step of ResNet18, MobileNetV2 and ShuffleNetV2 (widths 1 and 1/8) in tfkd beside the same step in PyTorch on this machine; writes results/bench/step-DEVICE.{md,json}.
bench-step device="cpu":
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/env.sh
    bench=$(scripts/setup-bench.sh)
    cargo build --release -q -p tfkd
    ref=$(mktemp)
    trap 'rm -f "$ref"' EXIT
    echo "reference: the same step in PyTorch…"
    "$bench/bin/python" benches/torch_train.py steps {{device}} 10 resnet18,mobilenetv2,shufflenetv2 > "$ref"
    ${CARGO_TARGET_DIR:-target}/release/tfkd bench models --device {{device}} --models resnet18,mobilenetv2,shufflenetv2 --widths 1,0.125 --seconds 10 --reference "$ref" --out results/bench/step-{{device}}

# The cost of portable numerics (quick and smoke profiles): training steps native, then portable; writes results/bench/numerics-cpu.{md,json}.
bench-numerics seconds="10":
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/env.sh
    cargo build --release -q -p tfkd
    native=$(mktemp -d)
    trap 'rm -rf "$native"' EXIT
    args=(bench models --models resnet18,mobilenetv2,shufflenetv2 --widths 1,0.125 --seconds {{seconds}})
    echo "reference: native numerics…"
    TFKD_NUMERICS=native ${CARGO_TARGET_DIR:-target}/release/tfkd "${args[@]}" --out "$native/models" > /dev/null
    echo "portable numerics…"
    TFKD_NUMERICS=portable ${CARGO_TARGET_DIR:-target}/release/tfkd "${args[@]}" --reference "$native/models.json" --out results/bench/numerics-cpu

# The Slurm executor against a real one-node Slurm on this machine (installs slurm-wlm and munge when missing).
test-slurm:
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/env.sh
    cargo build --release -q -p tfkd --tests
    export SLURM_LOCAL_DIR=${SLURM_LOCAL_DIR:-/tmp/tfkd-slurm-test}
    scripts/slurm-local.sh start --clean
    trap 'scripts/slurm-local.sh stop' EXIT
    eval "$(scripts/slurm-local.sh env)"
    cargo test --release -q -p tfkd --test slurm -- --ignored --test-threads=1

# Files tfkd writes for PyTorch and torchvision weights it reads, checked by real torch/torchvision (installs the PyTorch reference once).
test-torch:
    #!/usr/bin/env bash
    set -euo pipefail
    bench=$(scripts/setup-bench.sh)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cargo run --release -q -p tfkd-pth --example write_fixtures -- "$work/pth"
    "$bench/bin/python" crates/tfkd-pth/tests/fixtures/check_written.py "$work/pth"
    # torchvision's weights into tfkd's models (same logits) and tfkd's exports into torchvision (strict).
    PYTHON="$bench/bin/python" crates/tfkd-models/tests/fixtures/torchvision_interop.sh

# On the CPU: arrays of 1, 2 and 4 (width-1 arrays of 8–16 need more memory and time than a laptop has), 2 processes.
# One run at a time vs fused arrays vs packed processes (aggregate img/s, real images, PyTorch beside); writes results/bench/array-DEVICE.{md,json}.
bench-array device="cpu" seconds="20" widths="1 0.125":
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/env.sh
    bench=$(scripts/setup-bench.sh)
    cargo build --release -q -p tfkd
    ref=$(mktemp)
    trap 'rm -f "$ref"' EXIT
    for w in {{widths}}; do
        for m in resnet18 mobilenetv2 shufflenetv2; do
            echo "reference: $m at width $w in PyTorch's loop…"
            "$bench/bin/python" benches/torch_train.py timed {{device}} data/cifar10-jpeg.tar.gz $m $w 128 {{seconds}} | tail -n 1 >> "$ref"
        done
    done
    if [ "{{device}}" = cpu ]; then sizes=(--arrays 1,2,4 --packed 2); else sizes=(--arrays 1,2,4,8,16 --packed 4); fi
    ${CARGO_TARGET_DIR:-target}/release/tfkd bench array --device {{device}} --widths "$(echo {{widths}} | tr ' ' ,)" "${sizes[@]}" \
        --seconds {{seconds}} --reference "$ref" --out results/bench/array-{{device}}

# The GPU day rehearsed on the CPU: every step of scripts/gpu-check.sh (doctor, smoke, nan, bench, epoch, array, gpu) with tiny sizes.
rehearse-gpu:
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/env.sh
    bench=$(scripts/setup-bench.sh)
    cargo build --release -q -p tfkd
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    out=$work/out
    TFKD_GPU_PYTHON=$bench/bin/python TFKD_CHECK_TMP=$work/tmp GPU_BUDGET=600 GPU_EPOCHS=4 scripts/gpu-check.sh --rehearse \
        ${CARGO_TARGET_DIR:-target}/release/tfkd data/cifar10-jpeg.tar.gz "$out" doctor smoke nan bench epoch array gpu
    # What the GPU day must bring back: the fit and every target's records and report.
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["args"] and p["epochs"], p' "$out/gpu-plan.json"
    for t in rekd-cifar10 dekd tf-kd-self-cifar100 tf-kd-reg-cifar100; do
        tar -tzf "$out/results-gpu-$t.tar.gz" | grep '/gpu/report.json' > /dev/null || { echo "no report in results-gpu-$t.tar.gz"; exit 1; }
    done
    # A second call given those tarballs resumes instead of starting over.
    mkdir "$work/again"
    RESUME_FROM=$out TFKD_GPU_PYTHON=$bench/bin/python TFKD_CHECK_TMP=$work/tmp2 ARRAY_JSON=$out/array-cpu.json GPU_EPOCHS=4 \
        scripts/gpu-check.sh --rehearse ${CARGO_TARGET_DIR:-target}/release/tfkd data/cifar10-jpeg.tar.gz "$work/again" gpu \
        | tee "$work/again.log"
    grep -q "gpu-rekd-cifar10: finished in an earlier call" "$work/again.log"
    echo "rehearsal: every step of the GPU day ran on the CPU"
