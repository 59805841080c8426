#!/usr/bin/env bash
# Checks tfkd on a GPU machine that has torch 2.11.0+cu130 in a Python venv (DESIGN.md §3) but no Rust:
# the release binary is built elsewhere and copied in. Usage:
#   scripts/gpu-check.sh BINARY CIFAR10_JPEG_ARCHIVE OUT_DIR [CHECK...]
# CHECK: doctor; smoke (table3's smoke profile on CUDA fp32, again from an empty cache, bf16, and on the CPU);
# nan (a diverging run on CUDA must stop and be marked failed);
# bench (the training step vs PyTorch's); epoch (one real ResNet-18 epoch, fp32 and bf16, vs PyTorch's loop);
# array (`tfkd bench array`: one run at a time, fused arrays of 2-16 and 4 packed processes of ResNet18,
# MobileNetV2 and ShuffleNetV2 at width 1 on real images, beside PyTorch's loop; ~4 min);
# gpu (the gpu profile of table1 and of the quick-sized rows of tables 4-6, arrays on; ~8 min, records and
# reports as OUT_DIR/results-gpu.tar.gz, to unpack into results/).
# Default: all but array and gpu, which each need a call of their own on a 10-minute device lease:
#   scripts/gpu-check.sh BIN ARCHIVE OUT array      then      scripts/gpu-check.sh BIN ARCHIVE OUT gpu
# Writes OUT_DIR/gpu-check.log and the records and benchmark rows as JSON.
set -uo pipefail
bin=$(realpath "$1") archive=$(realpath "$2") out=$(realpath "$3")
shift 3
checks=" ${*:-doctor smoke nan bench epoch} "
want() { [[ $checks == *" $1 "* ]]; }
root=$(cd "$(dirname "$0")/.." && pwd)
py=${TFKD_GPU_PYTHON:-python3}
lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$lib TFKD_CIFAR10_JPEG=$archive TFKD_CACHE_DIR=/tmp/tfkd-cache TFKD_RESULTS_DIR=/tmp/tfkd-results
exec > >(tee "$out/gpu-check.log") 2>&1
cd "$root"

step() { # name limit command...: runs with a time limit, prints rc, wall time and the output's tail
    local name=$1 limit=$2; shift 2
    echo "== $name: $*"
    local start; start=$(date +%s%N)
    timeout "$limit" "$@" > "/tmp/$name.log" 2>&1
    local rc=$?
    echo "   rc $rc, $(( ($(date +%s%N) - start) / 1000000 )) ms"
    tail -n "${TAIL:-12}" "/tmp/$name.log" | sed 's/^/   | /'
}

records() { # results-dir name: prints the records found there and saves them as OUT_DIR/records-name.json
    "$py" - "$1" "$out/records-$2.json" <<'PY'
import glob, json, sys
records = [json.load(open(p)) for p in sorted(glob.glob(f"{sys.argv[1]}/**/runs/*.json", recursive=True))]
json.dump(records, open(sys.argv[2], "w"), indent=1)
for r in records:
    m = r["metrics"][-1]
    print(f"   {r['label']:<34} {r['provenance']['device']:<7} {r['config']['train'].get('precision', 'fp32'):<5}"
          f" loss {m['train_loss']:.6f} test {r['summary']['last_test_acc']:.4f} {m['train_img_per_s']:.0f} img/s")
PY
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "torch lib: $lib"
want doctor && step doctor 60 "$bin" doctor
if want smoke; then # the CUDA path end to end: on-device augmentation, teachers, KD losses, evaluation, records
    for v in cuda cuda-again bf16 cpu; do
        dev=cuda extra=()
        [ $v = cpu ] && dev=cpu
        [ $v = bf16 ] && extra=(--set train.precision=bf16)
        TFKD_CACHE_DIR=/tmp/cache-$v TFKD_RESULTS_DIR=/tmp/results-$v TAIL=3 step smoke-$v 180 \
            "$bin" reproduce table3 --profile smoke --device $dev -q "${extra[@]}"
        records /tmp/results-$v smoke-$v
    done
fi
if want nan; then # the loss is read every few batches on a GPU: a NaN must still stop the run
    TFKD_CACHE_DIR=/tmp/cache-nan TAIL=3 step nan 120 "$bin" run smoke --profile smoke --device cuda -q --only base-cnn5 \
        --set train.lr=1.0e12 --set train.warmup_epochs=0
    TFKD_CACHE_DIR=/tmp/cache-nan TAIL=3 step nan-status 60 "$bin" status
fi
if want bench; then # the same training step in tfkd and in PyTorch
    TAIL=3 step ref-steps 180 "$py" benches/torch_train.py steps cuda 10
    tail -n 1 /tmp/ref-steps.log > /tmp/ref-steps.json
    step bench-models 240 "$bin" bench models --device cuda --models resnet18,mobilenetv2,shufflenetv2,resnet50 \
        --widths 1,0.125 --seconds 10 --reference /tmp/ref-steps.json --out "$out/models-gpu"
fi
if want epoch; then # one real epoch of ResNet-18 on the 50,000 cifar10-jpeg images, each way
    for p in fp32 bf16; do
        TFKD_RESULTS_DIR=/tmp/results-epoch-$p TAIL=4 step epoch-tfkd-$p 300 \
            "$bin" run rekd-cifar10 --profile paper --device cuda -q --only base-resnet18 --set dataset.source=cifar10-jpeg \
            --set train.epochs=1 --set train.warmup_epochs=0 --set train.precision=$p
        records /tmp/results-epoch-$p epoch-$p
    done
    TAIL=3 step epoch-ref 300 "$py" benches/torch_train.py epoch cuda "$archive"
    tail -n 1 /tmp/epoch-ref.log > "$out/epoch-ref.json"
fi
if want array; then # aggregate img/s: one run at a time vs fused arrays vs packed processes, PyTorch's loop beside
    : > /tmp/ref-timed.jsonl
    for m in resnet18 mobilenetv2 shufflenetv2; do
        TAIL=2 step ref-timed-$m 120 "$py" benches/torch_train.py timed cuda "$archive" $m 1 128 15
        tail -n 1 /tmp/ref-timed-$m.log >> /tmp/ref-timed.jsonl
    done
    TAIL=30 step bench-array 420 "$bin" bench array --device cuda --arrays 1,2,4,8,16 --packed 4 --seconds 8 \
        --reference /tmp/ref-timed.jsonl --out "$out/array-gpu"
fi
if want gpu; then # evidence: the gpu profile (width 1, all of cifar10-jpeg, 15 epochs, 3 seeds) with arrays
    for t in table1 table4 table5 table6; do
        TFKD_RESULTS_DIR=/tmp/results-gpu TAIL=30 step gpu-$t 540 "$bin" reproduce $t --profile gpu --device cuda -q --yes
    done
    TFKD_RESULTS_DIR=/tmp/results-gpu step gpu-index 60 "$bin" report --profile gpu
    tar -C /tmp/results-gpu -czf "$out/results-gpu.tar.gz" .
fi
