//! What the binary's integration tests share: the repository, a `tfkd` command isolated in a home folder of
//! its own, and reading what it printed and recorded. Each test file uses part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// A `tfkd` command with its own cache and results folders (under `home`, also its working folder) and the
/// repository's experiments and data; fault injection and a user's Slurm config do not leak in.
///
/// The decoded data (`cache/decoded`) is shared by every test of the binary (a link to one folder under
/// cargo's target folder), so the bundled JPEGs are decoded once per build instead of once per test; a test
/// that damages or inspects that folder calls [`own_decode_cache`] first.
pub fn tfkd(home: &Path, args: &[&str]) -> Command {
    share_decode_cache(home);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tfkd"));
    cmd.args(args)
        .env("TFKD_CACHE_DIR", home.join("cache"))
        .env("TFKD_RESULTS_DIR", home.join("results"))
        .env("TFKD_EXPERIMENTS_DIR", repo().join("experiments"))
        .env("TFKD_DATA_DIR", repo().join("data"))
        .env_remove("TFKD_FAULT_NAN")
        .env_remove("TFKD_FAULT_ABORT")
        .env_remove("TFKD_FAULT_ARRAY")
        .env_remove("TFKD_SLURM_CONFIG")
        .current_dir(home);
    cmd
}

/// The marker that keeps a home's decode cache its own.
const OWN: &str = ".own-decode-cache";

/// Makes `home`'s decode cache its own (not shared with the other tests): for tests that damage it, clean
/// it, or check that nothing was decoded.
pub fn own_decode_cache(home: &Path) {
    std::fs::write(home.join(OWN), b"").unwrap();
}

fn share_decode_cache(home: &Path) {
    let decoded = home.join("cache/decoded");
    if home.join(OWN).exists() || decoded.symlink_metadata().is_ok() {
        return;
    }
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tfkd-tests-decoded");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(home.join("cache")).unwrap();
    std::os::unix::fs::symlink(&shared, &decoded).unwrap();
}

/// Everything a command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// What a command printed, which must have succeeded.
pub fn ok(out: Output) -> String {
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    t
}

/// A smoke-target record (`label` as `id@seed`) without the lines that hold times or where it ran, which differ
/// from run to run: what must not change when a run is repaired, resumed, retried or run elsewhere.
pub fn numbers(home: &Path, label: &str) -> String {
    let record = home.join("results/smoke/smoke/runs").join(format!("{}.json", label.replace('@', "-s")));
    let text = std::fs::read_to_string(&record).unwrap_or_else(|e| panic!("{}: {e}", record.display()));
    without_times(&text)
}

/// The lines of a pretty-printed record that hold times or where it ran, removed.
pub fn without_times(record: &str) -> String {
    const VARYING: [&str; 7] = [
        "\"seconds\"",
        "\"train_img_per_s\"",
        "\"started\"",
        "\"finished\"",
        "\"wall_seconds\"",
        "\"git_dirty\"",
        "\"git_commit\"",
    ];
    record.lines().filter(|l| !VARYING.iter().any(|k| l.trim_start().starts_with(k))).collect::<Vec<_>>().join("\n")
}

/// `run smoke --profile smoke --quiet --only ONLY --jobs JOBS` and `--set` for each of `sets`: the argument
/// list the fault tests start the smoke spec's runs with.
pub fn smoke_run(only: &str, jobs: &str, sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["run", "smoke", "--profile", "smoke", "--quiet", "--only", only, "--jobs", jobs].map(String::from).to_vec();
    for set in sets {
        args.extend(["--set".to_string(), (*set).to_string()]);
    }
    args
}

/// Every record of the smoke target, by file name, without the lines that hold times or where it ran.
pub fn records(home: &Path) -> Vec<(String, String)> {
    let dir = home.join("results/smoke/smoke/runs");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            (path.file_name().unwrap().to_string_lossy().into_owned(), without_times(&text))
        })
        .collect();
    out.sort();
    out
}

/// Each run folder under `runs` with its checkpoint files: every `state-*` file, or with `whole` only the JSON
/// (written last, so its checkpoint is complete).
fn checkpoint_files(runs: &Path, whole: bool) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let entries = |d: &Path| std::fs::read_dir(d).into_iter().flatten().flatten().map(|e| e.path()).collect::<Vec<_>>();
    entries(runs)
        .into_iter()
        .map(|dir| {
            let files = entries(&dir)
                .into_iter()
                .filter(|f| {
                    let n = f.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    n.starts_with("state-") && (!whole || n.ends_with(".json"))
                })
                .collect();
            (dir, files)
        })
        .collect()
}

/// The run folders under `runs` that hold a checkpoint: any `state-*` file, or with `whole` one whose JSON
/// (written last) is there too.
pub fn checkpointed(runs: &Path, whole: bool) -> Vec<PathBuf> {
    checkpoint_files(runs, whole).into_iter().filter(|(_, files)| !files.is_empty()).map(|(dir, _)| dir).collect()
}

/// `epochs_done` of every whole checkpoint (a `state-*.json`, written last) in the run folders under `runs`.
pub fn checkpointed_epochs(runs: &Path) -> Vec<u64> {
    checkpoint_files(runs, true)
        .into_iter()
        .flat_map(|(_, files)| files)
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|s| s["epochs_done"].as_u64())
        .collect()
}

/// A parsed record's per-epoch metrics without their wall times (`seconds`, `train_img_per_s`).
pub fn untimed_metrics(record: &serde_json::Value) -> serde_json::Value {
    let mut metrics = record["metrics"].clone();
    for m in metrics.as_array_mut().expect("a record's metrics are a list") {
        let m = m.as_object_mut().expect("an epoch's metrics are an object");
        m.remove("seconds");
        m.remove("train_img_per_s");
    }
    metrics
}

/// Polls `ready` every 20 ms until it holds; fails the test naming `what` after 5 minutes.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within 5 minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
