#!/usr/bin/env python3
"""Summarises `cargo build --timings` (its cargo-timing.html) as Markdown: wall time, the sum of unit times, the
slowest units and the largest families (polars-*, torch-sys, …), with the machine and the commit it was built
at. Usage: scripts/build-timings.py target/cargo-timings/cargo-timing.html > results/bench/build-cpu.md"""

import json
import os
import platform
import re
import subprocess
import sys


# Cargo's names for what a unit does.
MODES = {"todo": "compile", "run-custom-build": "build script", "doc": "doc"}


def units(html: str) -> list[dict]:
    m = re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S)
    if not m:
        sys.exit("no UNIT_DATA in the timing report: is it cargo's --timings HTML?")
    return json.loads(m.group(1))


def cpu() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    html = open(sys.argv[1], encoding="utf-8").read()
    data = units(html)
    wall = max(u["start"] + u["duration"] for u in data)
    total = sum(u["duration"] for u in data)
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    print("# Release build of `tfkd` (`cargo build --release -p tfkd --timings`)\n")
    print(f"Measured on {os.cpu_count()} cores ({cpu()}), {rustc}, commit {commit}, from an empty build folder "
          f"(crate sources already downloaded). Wall time **{wall:.0f} s**; {len(data)} units, "
          f"{total:.0f} s of unit time (the sum over units; 2 cores overlap them).\n")
    families: dict[str, float] = {}
    for u in data:
        name = u["name"]
        fam = "polars-*" if name.startswith("polars") else "tfkd-* (the workspace)" if name.startswith("tfkd") else name
        families[fam] = families.get(fam, 0.0) + u["duration"]
    print("| Family | Unit time (s) | Share |\n|---|---|---|")
    for fam, t in sorted(families.items(), key=lambda x: -x[1])[:12]:
        print(f"| {fam} | {t:.1f} | {100 * t / total:.1f}% |")
    print("\n| Last to finish (the end of the critical path) | Started (s) | Seconds |\n|---|---|---|")
    for u in sorted(data, key=lambda u: -(u["start"] + u["duration"]))[:8]:
        print(f"| {u['name']} {u['version']} | {u['start']:.1f} | {u['duration']:.1f} |")
    print("\n| Slowest units | Mode | Seconds |\n|---|---|---|")
    for u in sorted(data, key=lambda u: -u["duration"])[:20]:
        print(f"| {u['name']} {u['version']} | {MODES.get(u.get('mode', ''), u.get('mode', ''))} | {u['duration']:.1f} |")


if __name__ == "__main__":
    main()
