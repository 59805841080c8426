"""Fits the gpu profile to a device lease (scripts/gpu-check.sh, step gpu).

Usage: gpu_fit.py ARRAY_JSON CHECK_OUTPUT BUDGET_S "15 10 6" REHEARSE

ARRAY_JSON is `tfkd bench array`'s report: aggregate img/s of one run at a time, fused arrays of A runs and
N packed processes. CHECK_OUTPUT is what `tfkd check table1 --profile gpu` printed: its estimate, one run at a
time, at the profile's own epoch count. The mode whose aggregate throughput is highest wins (for ResNet18, the
slowest and most common model of rekd-cifar10); the estimate is divided by that speed-up and scaled to each epoch
count; the largest count whose table1 fits in 85% of the budget (the rest is start-up and the report) is
chosen. Prints the plan as JSON: the choice, why, and the `--set`/`--jobs` arguments for `tfkd reproduce`.
"""

import json
import re
import sys


def main():
    array_json, check_output, budget, epochs, rehearse = sys.argv[1:6]
    budget, rehearse = float(budget), rehearse == "1"
    epochs = sorted((int(e) for e in epochs.split()), reverse=True)
    rows = json.load(open(array_json))["rows"]
    text = open(check_output).read()
    m = re.search(r"estimated time here: .*?\((\d+) s\) for (\d+) run", text)
    if not m:
        sys.exit(f"no estimate in the output of tfkd check:\n{text}")
    one_run_s, runs = float(m.group(1)), int(m.group(2))
    m = re.search(r"epochs:? (\d+)", text)
    profile_epochs = int(m.group(1)) if m else 15

    model = "resnet18" if any(r["model"] == "resnet18" for r in rows) else rows[0]["model"]
    mine = [r for r in rows if r["model"] == model]
    single = next(r["img_per_s"] for r in mine if r["mode"] == "one run")
    best = max(mine, key=lambda r: r["img_per_s"])
    speedup = best["img_per_s"] / single
    if rehearse:
        # The rehearsal exercises both paths the GPU day may take: fused arrays inside packed processes.
        args, mode = ["--set", "train.array=4", "--jobs", "2"], "arrays of 4 in 2 packed processes (rehearsal)"
    elif best["mode"] == "array":
        args, mode = ["--set", f"train.array={best['runs']}"], f"fused arrays of {best['runs']}"
    elif best["mode"] == "processes":
        args, mode = ["--set", "train.array=off", "--jobs", str(best["runs"])], f"{best['runs']} packed processes"
    else:
        args, mode = ["--set", "train.array=off"], "one run at a time"
    chosen, table = None, []
    for e in epochs:
        seconds = one_run_s / speedup * e / profile_epochs
        table.append({"epochs": e, "estimated_s": round(seconds, 1)})
        if chosen is None and seconds <= 0.85 * budget:
            chosen = e
    if chosen is None:
        chosen = epochs[-1]
        why_epochs = f"none of {epochs} fits {budget:.0f} s; the smallest is tried and cut by the budget"
    else:
        why_epochs = f"the largest of {epochs} whose estimate for table1 fits 85% of the {budget:.0f} s budget"
    plan = {
        "mode": mode,
        "epochs": chosen,
        "why_mode": f"{model}: {best['img_per_s']:.0f} img/s in all ({best['mode']}, {best['runs']} runs) vs "
        f"{single:.0f} img/s one run at a time, {speedup:.2f}x",
        "why_epochs": why_epochs,
        "table1_one_run_at_a_time_s": one_run_s,
        "table1_runs": runs,
        "profile_epochs": profile_epochs,
        "estimates": table,
        "budget_s": budget,
        "args": args + ["--set", f"train.epochs={chosen}"],
    }
    print(json.dumps(plan, indent=1))


if __name__ == "__main__":
    main()
