#!/usr/bin/env bash
# Checks tfkd on a GPU machine that has torch 2.11.0+cu130 in a Python venv but no Rust: the release binary
# is built elsewhere and copied in. Usage:
#   scripts/gpu-check.sh [--rehearse] BINARY CIFAR10_JPEG_ARCHIVE OUT_DIR [CHECK...]
# CHECK: doctor; smoke (table3's smoke profile on CUDA fp32, again from an empty cache, bf16, and on the CPU);
# nan (a diverging run on CUDA must stop and be marked failed);
# bench (the training step vs PyTorch's); epoch (one real ResNet-18 epoch, fp32 and bf16, vs PyTorch's loop);
# array (`tfkd bench array`: one run at a time, fused arrays of 2-16 and 4 packed processes of ResNet18,
# MobileNetV2 and ShuffleNetV2 at width 1 on real images, beside PyTorch's loop; ~4 min);
# gpu (the evidence: the gpu profile of rekd-cifar10 (Tab. 2), then of dekd, tf-kd-self-cifar100 and
# tf-kd-reg-cifar100 as the budget allows; see fit below).
# Default: all but array and gpu, which each need a call of their own on a 10-minute device lease:
#   scripts/gpu-check.sh BIN ARCHIVE OUT array      then      scripts/gpu-check.sh BIN ARCHIVE OUT gpu
#
# gpu fits the lease: GPU_BUDGET seconds of wall time for all its targets (default 480). It reads the array
# step's result (OUT_DIR/array-gpu.json, or ARRAY_JSON) — else measures ResNet18's aggregate throughput now,
# one run vs arrays vs packed processes — picks the faster mode, then the largest epoch count of
# GPU_EPOCHS (default "15 10 6") whose estimated time for rekd-cifar10 fits the budget, and writes the choice and
# why to OUT_DIR/gpu-plan.json (every record also carries its epochs and array size). Each target's records
# and report go to OUT_DIR/results-gpu-TARGET.tar.gz as soon as it finishes, so a call cut at its limit
# still returns every finished target; RESUME_FROM=DIR (the tarballs of an earlier call, carried back in)
# skips the targets already there.
#
# Epoch counts below 4 leave dekd invalid (its De-KD teachers give their epoch-4 snapshot), so it is
# then skipped with that reason and the other targets go on.
# --rehearse runs every step on the CPU with tiny sizes through the same code paths (arrays forced on with
# train.array=4, packed processes, the fit, the report and the tarballs), so a bug in this script or in a
# path only the GPU day would take fails CI instead: TFKD_GPU_PYTHON must then be a Python with torch and
# torchvision (scripts/setup-bench.sh makes one). Writes OUT_DIR/gpu-check.log and the records as JSON.
set -uo pipefail
rehearse=0
if [ "${1:-}" = --rehearse ]; then rehearse=1; shift; fi
bin=$(realpath "$1") archive=$(realpath "$2") out=$(realpath "$3")
shift 3
checks=" ${*:-doctor smoke nan bench epoch} "
want() { [[ $checks == *" $1 "* ]]; }
root=$(cd "$(dirname "$0")/.." && pwd)
py=${TFKD_GPU_PYTHON:-python3}
tmp=${TFKD_CHECK_TMP:-/tmp/tfkd-check}
mkdir -p "$tmp" "$out"
if [ $rehearse = 1 ]; then
    dev=cpu budget=${GPU_BUDGET:-240}
    # Tiny sizes, same code paths.
    tiny=(--set dataset.train_subset=256 --set dataset.val_size=64 --set dataset.test_subset=128 --set model.width=0.0625)
    bench_seconds=1 ref_width=0.125 arrays=1,2 packed=2 array_width=0.0625 epoch_images=512
else
    dev=cuda budget=${GPU_BUDGET:-480}
    tiny=()
    bench_seconds=8 ref_width=1 arrays=1,2,4,8,16 packed=4 array_width=1 epoch_images=50000
    lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    export LD_LIBRARY_PATH=$lib
fi
export TFKD_CIFAR10_JPEG=$archive TFKD_CACHE_DIR=$tmp/cache TFKD_RESULTS_DIR=$tmp/results
exec > >(tee "$out/gpu-check.log") 2>&1
cd "$root"
failures=0

step() { # name limit command...: runs with a time limit, prints rc, wall time and the output's tail
    local name=$1 limit=$2; shift 2
    echo "== $name: $*"
    local start; start=$(date +%s%N)
    timeout "$limit" "$@" > "$tmp/$name.log" 2>&1
    local rc=$?
    echo "   rc $rc, $(( ($(date +%s%N) - start) / 1000000 )) ms"
    tail -n "${TAIL:-12}" "$tmp/$name.log" | sed 's/^/   | /'
    [ $rc = 0 ] || [ "${EXPECT_FAIL:-0}" = 1 ] || failures=$((failures + 1))
    return $rc
}

records() { # results-dir name: prints the records found there and saves them as OUT_DIR/records-name.json
    python3 - "$1" "$out/records-$2.json" <<'PY'
import glob, json, sys
records = [json.load(open(p)) for p in sorted(glob.glob(f"{sys.argv[1]}/**/runs/*.json", recursive=True))]
json.dump(records, open(sys.argv[2], "w"), indent=1)
for r in records:
    m = r["metrics"][-1]
    print(f"   {r['label']:<34} {r['provenance']['device']:<7} {r['config']['train'].get('precision', 'fp32'):<5}"
          f" loss {m['train_loss']:.6f} test {r['summary']['last_test_acc']:.4f} {m['train_img_per_s']:.0f} img/s")
PY
}

if [ $rehearse = 1 ]; then echo "rehearsal on the CPU: tiny sizes, the GPU day's code paths"; else
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "torch lib: $lib"
fi
want doctor && step doctor 60 "$bin" doctor
if want smoke; then # the CUDA path end to end: on-device augmentation, teachers, KD losses, evaluation, records
    variants="cuda cuda-again bf16 cpu"
    [ $rehearse = 1 ] && variants="cuda cuda-again cpu" # bf16 is refused on the CPU (tested in just test)
    for v in $variants; do
        d=$dev extra=()
        [ $v = cpu ] && d=cpu
        [ $v = bf16 ] && extra=(--set train.precision=bf16)
        TFKD_CACHE_DIR=$tmp/cache-$v TFKD_RESULTS_DIR=$tmp/results-$v TAIL=3 step smoke-$v 180 \
            "$bin" reproduce table3 --profile smoke --device $d -q "${extra[@]}"
        records "$tmp/results-$v" smoke-$v
    done
fi
if want nan; then # the loss is read every few batches on a GPU: a NaN must still stop the run
    EXPECT_FAIL=1 TFKD_FAULT_NAN=base-cnn5@230:5 TFKD_CACHE_DIR=$tmp/cache-nan TAIL=3 step nan 120 "$bin" run smoke \
        --profile smoke --device $dev -q --only base-cnn5 --set train.warmup_epochs=0
    TFKD_CACHE_DIR=$tmp/cache-nan TAIL=3 step nan-status 60 "$bin" status
    grep -q "^failed .*non-finite loss" "$tmp/nan-status.log" \
        || { echo "   the diverging run is not marked failed"; failures=$((failures + 1)); }
fi
if want bench; then # the same training step in tfkd and in PyTorch
    TAIL=3 step ref-steps 180 "$py" benches/torch_train.py steps $dev $bench_seconds
    tail -n 1 "$tmp/ref-steps.log" > "$tmp/ref-steps.json"
    step bench-models 240 "$bin" bench models --device $dev --models resnet18,mobilenetv2,shufflenetv2,resnet50 \
        --widths 1,0.125 --seconds $bench_seconds --reference "$tmp/ref-steps.json" --out "$out/models-$dev"
fi
if want epoch; then # one real epoch of ResNet-18 on the 50,000 cifar10-jpeg images, each way
    precisions="fp32 bf16"
    [ $rehearse = 1 ] && precisions=fp32
    for p in $precisions; do
        TFKD_RESULTS_DIR=$tmp/results-epoch-$p TAIL=4 step epoch-tfkd-$p 300 \
            "$bin" run rekd-cifar10 --profile paper --device $dev -q --only base-resnet18 --set dataset.source=cifar10-jpeg \
            --set train.epochs=1 --set train.warmup_epochs=0 --set train.precision=$p "${tiny[@]}"
        records "$tmp/results-epoch-$p" epoch-$p
    done
    IMAGES=$epoch_images WIDTH=$ref_width TAIL=3 step epoch-ref 300 "$py" benches/torch_train.py epoch $dev "$archive"
    tail -n 1 "$tmp/epoch-ref.log" > "$out/epoch-ref.json"
fi
if want array; then # aggregate img/s: one run at a time vs fused arrays vs packed processes, PyTorch's loop beside
    : > "$tmp/ref-timed.jsonl"
    for m in resnet18 mobilenetv2 shufflenetv2; do
        IMAGES=2000 TAIL=2 step ref-timed-$m 120 "$py" benches/torch_train.py timed $dev "$archive" $m $ref_width 128 $bench_seconds
        tail -n 1 "$tmp/ref-timed-$m.log" >> "$tmp/ref-timed.jsonl"
    done
    TAIL=30 step bench-array 420 "$bin" bench array --device $dev --width $array_width --arrays $arrays --packed $packed \
        --seconds $bench_seconds --reference "$tmp/ref-timed.jsonl" --out "$out/array-$dev"
fi
if want gpu; then # evidence: the gpu profile, fitted to the budget, each target returned as it finishes
    start=$(date +%s)
    array_json=${ARRAY_JSON:-$out/array-$dev.json}
    if [ ! -f "$array_json" ]; then # no array step this lease: measure ResNet18 alone, briefly
        TAIL=8 step fit-measure 180 "$bin" bench array --device $dev --models resnet18 --width $array_width \
            --arrays $arrays --packed $packed --seconds $bench_seconds --out "$tmp/fit-array"
        array_json=$tmp/fit-array.json
    fi
    "$bin" check rekd-cifar10 --profile gpu "${tiny[@]}" > "$tmp/fit-plan.txt" 2>&1
    python3 scripts/gpu_fit.py "$array_json" "$tmp/fit-plan.txt" "$budget" "${GPU_EPOCHS:-15 10 6}" $rehearse \
        > "$out/gpu-plan.json" || { echo "   the fit failed"; failures=$((failures + 1)); }
    cat "$out/gpu-plan.json"
    read -r -a fit < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(" ".join(p["args"]))' "$out/gpu-plan.json")
    ran=0
    for t in rekd-cifar10 dekd tf-kd-self-cifar100 tf-kd-reg-cifar100; do
        if [ -n "${RESUME_FROM:-}" ] && [ -f "$RESUME_FROM/results-gpu-$t.tar.gz" ]; then
            echo "== gpu-$t: finished in an earlier call ($RESUME_FROM/results-gpu-$t.tar.gz)"
            cp "$RESUME_FROM/results-gpu-$t.tar.gz" "$out/"
            continue
        fi
        left=$(( budget - ($(date +%s) - start) ))
        if [ $left -lt 30 ]; then echo "== gpu-$t: not started, $left s of the budget left"; continue; fi
        ran=$((ran + 1))
        TFKD_RESULTS_DIR=$tmp/results-gpu TAIL=30 step gpu-$t $left "$bin" reproduce $t --profile gpu --device $dev \
            -q --yes "${tiny[@]}" "${fit[@]}" || continue
        # This target's records and report now, so a cut later still returns them.
        tar -C "$tmp/results-gpu" -czf "$out/results-gpu-$t.tar.gz" "$t"
        echo "   $out/results-gpu-$t.tar.gz"
    done
    [ $ran = 0 ] || TFKD_RESULTS_DIR=$tmp/results-gpu step gpu-index 60 "$bin" report --profile gpu
fi
echo "gpu-check: $failures step(s) failed"
[ $failures = 0 ]
