#!/usr/bin/env python3
"""Runs the workspace's test binaries side by side instead of one after another, as `cargo test` does.

`cargo test` runs each test binary in turn, so a binary whose tests train one small model at a time (the arrays test,
the engine's kill-and-resume tests) leaves the other core idle for minutes. This script builds every test target
once (`cargo test --no-run`, with the arguments it is given, e.g. `--release --workspace --all-targets`), then runs
the binaries on `--jobs` slots (default: the cores this process may use), the longest first — by the times of the
previous run, kept in the target folder, or on a first run by the times measured when this script was written.
Each binary runs in its package's folder with the variables `cargo test` sets (CARGO_MANIFEST_DIR, CARGO_PKG_NAME,
…); its output is shown only when it fails. Arguments after `--` go to every binary (a test-name
filter, `--ignored`). Exit status: 0 when every binary passed, 1 otherwise (each failure's output is printed)."""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

# On a first run (no recorded times): the binaries measured slowest on the 2-core build machine (seconds alone,
# 2026-12-07), then the other integration tests of the packages that train end to end, then the rest.
SLOWEST = {"tfkd-trainers/test/arrays": 112, "tfkd/test/reliability": 66, "tfkd/test/engine": 48, "tfkd/test/aliases": 46}
TRAINING_PACKAGES = ("tfkd", "tfkd-trainers")


def build(cargo_args: list[str]) -> list[dict]:
    """Builds the test targets and returns one entry per test binary (name, kind, package, executable, folder)."""
    cmd = ["cargo", "test", "--no-run", "--message-format=json-render-diagnostics", *cargo_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    binaries = []
    assert proc.stdout is not None
    for line in proc.stdout:
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable") or not msg["profile"]["test"]:
            continue
        manifest = pathlib.Path(msg["manifest_path"])
        package = msg["package_id"]
        binaries.append(
            {
                "name": msg["target"]["name"],
                "kind": msg["target"]["kind"][0],
                "package": manifest.parent.name,
                "package_id": package,
                "executable": msg["executable"],
                "folder": str(manifest.parent),
                "manifest": str(manifest),
            }
        )
    if proc.wait() != 0:
        sys.exit(f"run-tests: `{' '.join(cmd)}` failed")
    return binaries


def key(b: dict) -> str:
    return f"{b['package']}/{b['kind']}/{b['name']}"


def package_env(b: dict) -> dict[str, str]:
    """The variables `cargo test` gives a test binary (those the workspace's tests can read)."""
    version = b["package_id"].rsplit("#", 1)[-1].rsplit("@", 1)[-1]
    env = dict(os.environ)
    env.update(
        CARGO_MANIFEST_DIR=b["folder"],
        CARGO_MANIFEST_PATH=b["manifest"],
        CARGO_PKG_NAME=b["package"],
        CARGO_CRATE_NAME=b["name"].replace("-", "_"),
        CARGO_PKG_VERSION=version,
    )
    return env


def main() -> None:
    argv = sys.argv[1:]
    test_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, test_args = argv[:i], argv[i + 1 :]
    jobs = len(os.sched_getaffinity(0))
    cargo_args: list[str] = []
    while argv:
        arg = argv.pop(0)
        if arg in ("-h", "--help"):
            print(__doc__)
            return
        if arg == "--jobs" or arg.startswith("--jobs="):
            value = arg.split("=", 1)[1] if "=" in arg else (argv.pop(0) if argv else "")
            if not value.isdigit() or int(value) < 1:
                sys.exit(f"run-tests: --jobs takes a whole number of at least 1, not '{value}'")
            jobs = int(value)
        else:
            cargo_args.append(arg)

    binaries = build(cargo_args)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or "target")
    times_file = target / "test-times.json"
    try:
        previous = json.loads(times_file.read_text())
    except (OSError, ValueError):
        previous = {}

    def expected(b: dict) -> float:
        if key(b) in previous:
            return float(previous[key(b)])
        if key(b) in SLOWEST:
            return float(SLOWEST[key(b)])
        return 10.0 if b["package"] in TRAINING_PACKAGES and b["kind"] == "test" else 0.0

    queue = sorted(binaries, key=expected, reverse=True)
    lock = threading.Lock()
    results: dict[str, tuple[int, float, str]] = {}
    start = time.monotonic()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                b = queue.pop(0)
            began = time.monotonic()
            proc = subprocess.run(
                [b["executable"], *test_args],
                cwd=b["folder"],
                env=package_env(b),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            seconds = time.monotonic() - began
            with lock:
                results[key(b)] = (proc.returncode, seconds, proc.stdout)
                status = "ok    " if proc.returncode == 0 else "FAILED"
                print(f"{status} {seconds:6.1f} s  {key(b)}", flush=True)

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    failed = {k: r for k, r in results.items() if r[0] != 0}
    for k, (rc, _, output) in sorted(failed.items()):
        print(f"\n===== {k} (exit status {rc}) =====\n{output}", file=sys.stderr)
    times = {**previous, **{k: round(r[1], 1) for k, r in results.items()}}
    try:
        tmp = times_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(times, indent=1, sort_keys=True))
        tmp.replace(times_file)
    except OSError:
        pass
    wall = time.monotonic() - start
    busy = sum(r[1] for r in results.values())
    print(f"{len(results) - len(failed)} of {len(results)} test binaries passed in {wall:.0f} s "
          f"({busy:.0f} s of binary time on {jobs} slots)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
