//! What a careful user breaks, and what tfkd must do then: damaged files in the cache, concurrent invocations,
//! a full disk, a closed pipe, interrupted runs, leftovers of killed processes, and bad input found early.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

mod common;

use common::{numbers, ok, own_decode_cache, repo, smoke_run, text, tfkd};

/// Two small runs of the smoke spec: a CIFAR ResNet and the 5-layer CNN, 2 epochs each.
const TWO: &[&str] = &["run", "smoke", "--profile", "smoke", "--quiet", "--only", "base-resnet8,base-cnn5"];

fn run_dir(home: &Path, label: &str) -> PathBuf {
    let record = home.join("results/smoke/smoke/runs").join(format!("{}.json", label.replace('@', "-s")));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    home.join("cache/runs").join(r["run_id"].as_str().unwrap())
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 3]).unwrap();
}

fn newest_state(dir: &Path, ext: &str) -> PathBuf {
    let step = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_prefix("state-")?.strip_suffix(ext)?.parse::<u64>().ok())
        .max()
        .unwrap();
    dir.join(format!("state-{step}{ext}"))
}

/// A truncated record, checkpoint or weights file is reported as damaged (with the file), hides no other run,
/// and the next run of the target repairs it — resuming from the last good checkpoint or retraining — to the
/// same numbers; `tfkd clean --damaged` removes what is damaged.
#[test]
fn damaged_run_folders_are_reported_and_repaired() {
    let home = tempfile::tempdir().unwrap();
    ok(tfkd(home.path(), TWO).output().unwrap());
    let (resnet, cnn) = (run_dir(home.path(), "base-resnet8@230"), run_dir(home.path(), "base-cnn5@230"));
    let (want_resnet, want_cnn) = (numbers(home.path(), "base-resnet8@230"), numbers(home.path(), "base-cnn5@230"));

    // 1. A truncated done.json: damaged, the other run still listed; resumed from its final checkpoint.
    truncate(&resnet.join("done.json"));
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(
        status.contains("1 done") && status.contains("1 damaged") && status.contains("done.json: does not parse"),
        "{status}"
    );
    let target = ok(tfkd(home.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    assert!(target.contains("damaged") && target.contains("done "), "{target}");
    let repaired = ok(tfkd(home.path(), TWO).output().unwrap());
    assert!(
        repaired.contains("repair base-resnet8@230")
            && repaired.contains("resuming it from its last good checkpoint (epoch 2"),
        "{repaired}"
    );
    assert_eq!(numbers(home.path(), "base-resnet8@230"), want_resnet);

    // 2. A truncated newest checkpoint and a lost record: resumed from the checkpoint before it.
    truncate(&newest_state(&cnn, ".safetensors"));
    std::fs::remove_file(cnn.join("done.json")).unwrap();
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(
        status.contains("partial") && status.contains("damaged and skipped") && status.contains("checksum"),
        "{status}"
    );
    let repaired = ok(tfkd(home.path(), TWO).output().unwrap());
    assert!(
        repaired.contains("repair base-cnn5@230") && repaired.contains("resuming from the checkpoint before it"),
        "{repaired}"
    );
    assert_eq!(numbers(home.path(), "base-cnn5@230"), want_cnn);

    // 3. Damaged teacher weights of a finished run: status and the target's status say damaged (and count
    // it), then the run is retrained from scratch, to the same numbers (CPU runs are deterministic).
    truncate(&resnet.join("best.safetensors"));
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(
        status.contains("1 done") && status.contains("1 damaged") && status.contains("best.safetensors"),
        "{status}"
    );
    let target = ok(tfkd(home.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    assert!(target.contains("damaged") && target.contains("best.safetensors"), "{target}");
    let repaired = ok(tfkd(home.path(), TWO).output().unwrap());
    assert!(
        repaired.contains("best.safetensors: checksum") && repaired.contains("retraining it from scratch"),
        "{repaired}"
    );
    assert!(!repaired.contains("nothing left to train"), "the plan counts the run it repairs: {repaired}");
    assert_eq!(numbers(home.path(), "base-resnet8@230"), want_resnet);

    // 4. clean --damaged removes a damaged folder, a finished run whose weights are damaged, and a finished
    // run's leftover checkpoint files, and nothing else.
    std::fs::write(cnn.join("done.json"), "{").unwrap();
    let cleaned = ok(tfkd(home.path(), &["clean", "--damaged"]).output().unwrap());
    assert!(cleaned.contains("removed 1 damaged run(s)"), "{cleaned}");
    assert!(!cnn.exists() && resnet.join("done.json").is_file());
    // A finished run keeps its newest checkpoints (to repair its record from); an older one is a leftover.
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(!status.contains("leftover"), "{status}");
    std::fs::write(resnet.join("state-0.json"), "{}").unwrap();
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(status.contains("1 leftover checkpoint file(s)"), "{status}");
    let cleaned = ok(tfkd(home.path(), &["clean", "--damaged"]).output().unwrap());
    assert!(cleaned.contains("state-0.json") && !resnet.join("state-0.json").exists(), "{cleaned}");
    assert!(std::fs::read_dir(&resnet)
        .unwrap()
        .flatten()
        .any(|f| f.file_name().to_string_lossy().starts_with("state-")));
    let snapshot = resnet.join("best.safetensors");
    truncate(&snapshot);
    let cleaned = ok(tfkd(home.path(), &["clean", "--damaged"]).output().unwrap());
    assert!(cleaned.contains("removed 1 damaged run(s)") && !resnet.exists(), "{cleaned}");
}

/// Three invocations of the same target started together train every run once: the others wait for each
/// run's lease and reuse its result, and say so.
#[test]
fn concurrent_invocations_train_each_run_once() {
    let home = tempfile::tempdir().unwrap();
    let children: Vec<_> =
        (0..3).map(|_| tfkd(home.path(), TWO).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    let outputs: Vec<String> = children.into_iter().map(|c| ok(c.wait_with_output().unwrap())).collect();
    let all = outputs.join("\n---\n");
    for label in ["base-resnet8@230", "base-cnn5@230"] {
        let trained = all.lines().filter(|l| l.starts_with(&format!("train {label} "))).count();
        assert_eq!(trained, 1, "{label} trained {trained} times:\n{all}");
    }
    let reused = all.matches("trained meanwhile by tfkd training").count() + all.matches("already trained").count();
    assert_eq!(reused, 4, "the other two invocations reuse both runs:\n{all}");
    let summaries = all.matches("smoke: ").count();
    assert_eq!(summaries, 3, "{all}");
}

/// A run's record does not depend on how many jobs trained at once, in one process or in worker processes:
/// the files are identical byte for byte, but for wall times (numbers parse back exactly: serde_json's float
/// round trip).
#[test]
fn records_do_not_depend_on_jobs_byte_for_byte() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let serial =
        ok(tfkd(one.path(), &["reproduce", "smoke", "--profile", "smoke", "--quiet", "--jobs", "1"]).output().unwrap());
    assert!(!serial.contains("jobs at once"), "{serial}");
    let parallel =
        ok(tfkd(two.path(), &["reproduce", "smoke", "--profile", "smoke", "--quiet", "--jobs", "3"]).output().unwrap());
    assert!(parallel.contains("training up to 3 jobs at once"), "{parallel}");
    let (a, b) = (common::records(one.path()), common::records(two.path()));
    assert_eq!(a.len(), 8);
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between --jobs 1 and --jobs 3");
    }
    assert_eq!(a.len(), b.len());
}

/// With a full disk every report file is either written whole or left as it was, never truncated under its
/// name, no temporary file stays behind, and the error names the file once.
#[test]
fn a_full_disk_leaves_no_truncated_report_file() {
    let home = tempfile::tempdir().unwrap();
    let results = home.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    // A small tmpfs when this machine lets the test mount one (root in CI), else a file where the folder
    // must go (even root cannot write into that).
    // It holds the committed run records and about 200 kB more, whatever the records' size.
    let src = repo().join("results/rekd-tiny-imagenet/quick");
    let records: u64 = std::fs::read_dir(src.join("runs")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={}k", records / 1024 + 200), "tmpfs"])
        .arg(&results)
        .status()
        .is_ok_and(|s| s.success());
    // Unmounted however the test ends, a failed assertion included.
    struct Unmount(Option<PathBuf>);
    impl Drop for Unmount {
        fn drop(&mut self) {
            if let Some(dir) = &self.0 {
                let _ = Command::new("umount").arg(dir).status();
            }
        }
    }
    let _unmount = Unmount(mounted.then(|| results.clone()));
    let dst = results.join("rekd-tiny-imagenet/quick");
    std::fs::create_dir_all(dst.join("runs")).unwrap();
    for e in std::fs::read_dir(src.join("runs")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("runs").join(e.file_name())).unwrap();
    }
    if mounted {
        // Fill what is left but a little, so the report's files run out of space part way.
        let free = {
            let out = Command::new("df").args(["--output=avail", "-B1"]).arg(&results).output().unwrap();
            String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
        };
        std::fs::write(results.join("filler"), vec![0u8; free.saturating_sub(20_000) as usize]).ok();
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = tfkd(home.path(), &["report", "table3"]).output().unwrap();
    let said = text(&out);
    let reason = if mounted { "No space left on device" } else { "Permission denied" };
    assert!(!out.status.success(), "the report was written on a full disk or into a read-only folder?\n{said}");
    assert_eq!(said.matches(reason).count(), 1, "the reason is said once: {said}");
    assert!(said.contains(&dst.display().to_string()), "the error names the file: {said}");
    {
        for entry in std::fs::read_dir(&dst).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".tmp-"), "temporary file {name} left behind");
        }
        for (file, check) in [("table.md", "# Reversed KD"), ("table.csv", "row,column")] {
            if let Ok(text) = std::fs::read_to_string(dst.join(file)) {
                let want = std::fs::read_to_string(src.join(file)).unwrap();
                assert!(
                    text.starts_with(check) && text == want,
                    "{file} is truncated: {} of {} bytes\n{said}\n{text}",
                    text.len(),
                    want.len()
                );
            }
        }
        if let Ok(png) = std::fs::read(dst.join("re-kd.png")) {
            assert_eq!(png, std::fs::read(src.join("re-kd.png")).unwrap(), "re-kd.png is truncated");
        }
    }
}

/// A closed pipe ends tfkd quietly, as other command-line tools: no panic.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let home = tempfile::tempdir().unwrap();
    let mut child = tfkd(home.path(), &["models"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take()); // the reader goes away before tfkd writes
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "exit status of a panic");
}

/// SIGINT mid-run: the finished run's record is written, the interrupted one keeps a checkpoint between two
/// batches, tfkd says what was kept and exits with status 3; the same command resumes it to the numbers of
/// an uninterrupted run, bit for bit.
#[test]
fn sigint_keeps_finished_records_and_resumes_mid_epoch_bit_identically() {
    let args: &[&str] = &[
        "run",
        "smoke",
        "--profile",
        "smoke",
        "--quiet",
        "--only",
        "base-resnet8,base-cnn5",
        "--set",
        "train.epochs=6",
        "--set",
        "dataset.train_subset=1024",
        "--jobs",
        "1",
    ];
    let reference = tempfile::tempdir().unwrap();
    ok(tfkd(reference.path(), args).output().unwrap());
    let home = tempfile::tempdir().unwrap();
    let child = tfkd(home.path(), args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait until the first run (base-resnet8, planned first) has finished and the second has a checkpoint.
    let runs = home.path().join("cache/runs");
    common::wait_until("a checkpoint of the second run", || {
        let folders = common::checkpointed(&runs, false);
        let done = folders.iter().filter(|d| d.join("done.json").is_file()).count();
        done == 1 && folders.len() == 2
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("stopped: 1 finished run(s) are recorded") && said.contains("the same command resumes them"),
        "{said}"
    );
    assert!(home.path().join("results/smoke/smoke/runs/base-resnet8-s230.json").is_file(), "{said}");
    let resumed = ok(tfkd(home.path(), args).output().unwrap());
    assert!(resumed.contains("resuming after epoch") || resumed.contains("train base-cnn5@230"), "{resumed}");
    for label in ["base-resnet8@230", "base-cnn5@230"] {
        assert_eq!(numbers(home.path(), label), numbers(reference.path(), label), "{label} after the interrupt");
    }
}

/// Temporary files of killed processes are removed on start and by `tfkd clean --temp`.
#[test]
fn leftover_temporary_files_are_swept() {
    let home = tempfile::tempdir().unwrap();
    own_decode_cache(home.path());
    let decoded = home.path().join("cache/decoded");
    std::fs::create_dir_all(&decoded).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    // A pid above any pid_max: its process is surely gone.
    let leftover = decoded.join(format!(".tmp-{host}-4194999-cifar10-jpeg-45b041e867f5a40f.bin"));
    std::fs::write(&leftover, vec![0u8; 4096]).unwrap();
    let cleaned = ok(tfkd(home.path(), &["clean", "--temp"]).output().unwrap());
    assert!(cleaned.contains("removed 1 temporary file(s), 4096 bytes") && !leftover.exists(), "{cleaned}");
    std::fs::write(&leftover, vec![0u8; 10]).unwrap();
    let run = ok(tfkd(
        home.path(),
        &[
            "run",
            "smoke",
            "--profile",
            "smoke",
            "--quiet",
            "--only",
            "base-cnn5",
            "--set",
            "train.epochs=1",
            "--set",
            "train.warmup_epochs=0",
        ],
    )
    .output()
    .unwrap());
    assert!(run.contains("a temporary file a killed process left behind") && !leftover.exists(), "{run}");
}

/// What can be checked before any work is checked before any work, with a message that helps.
#[test]
fn bad_input_is_refused_before_training_with_a_useful_message() {
    let home = tempfile::tempdir().unwrap();
    own_decode_cache(home.path());
    // A spec file name that does not exist is not looked up as nope.yaml.yaml.
    let out = tfkd(home.path(), &["check", "nope.yaml"]).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("no spec file nope.yaml"), "{}", text(&out));
    // A results folder that cannot be written is found before the data is even decoded.
    std::fs::write(home.path().join("results"), "a file where the results folder goes").unwrap();
    let out = tfkd(home.path(), TWO).output().unwrap();
    let said = text(&out);
    let results = home.path().join("results");
    assert!(!out.status.success() && said.contains(&format!("{} is not a folder", results.display())), "{said}");
    // So is a cache folder that is a file, also for `status`, which must not report "0 done" in it.
    std::fs::remove_file(&results).unwrap();
    std::fs::write(home.path().join("cache"), "a file where the cache goes").unwrap();
    for args in [TWO, &["status"][..]] {
        let out = tfkd(home.path(), args).output().unwrap();
        let said = text(&out);
        assert!(!out.status.success() && said.contains("cache is not a folder") && !said.contains("0 done"), "{said}");
    }
    std::fs::remove_file(home.path().join("cache")).unwrap();
    // An empty variable does not silently mean the current folder.
    let out = tfkd(home.path(), TWO).env("TFKD_CACHE_DIR", "").output().unwrap();
    assert!(!out.status.success() && text(&out).contains("TFKD_CACHE_DIR is set but empty"), "{}", text(&out));
    // --jobs 0 is refused, not taken for 1.
    let out = tfkd(home.path(), &["run", "smoke", "--profile", "smoke", "--jobs", "0"]).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("--jobs"), "{}", text(&out));
    // A section given a value names the section and the keys it has.
    let out =
        tfkd(home.path(), &["check", "smoke", "--profile", "smoke", "--set", "model=resnet9000"]).output().unwrap();
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("--set model=resnet9000") && said.contains("`model` is a section"),
        "{said}"
    );
    assert!(said.contains("width"), "the section's keys are listed: {said}");
    let out =
        tfkd(home.path(), &["check", "smoke", "--profile", "smoke", "--set", "train.numerics=fast"]).output().unwrap();
    let said = text(&out);
    assert!(!out.status.success() && said.contains("train.numerics") && said.contains("portable"), "{said}");
    assert!(!home.path().join("cache/runs").exists(), "nothing trained");
    assert!(
        !home.path().join("cache/runs").exists() && !home.path().join("cache/decoded").exists(),
        "nothing trained or decoded"
    );
    // A folder given as the bundled archive.
    let out =
        tfkd(home.path(), &["data", "inspect", "cifar10-jpeg"]).env("TFKD_CIFAR10_JPEG", home.path()).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("is a folder"), "{}", text(&out));
    // A truncated record names the file, instead of saying there are no records.
    let runs = home.path().join("r/rekd-tiny-imagenet/quick/runs");
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::write(runs.join("base-resnet18-s1.json"), "{\"run_id\": ").unwrap();
    let out = tfkd(home.path(), &["report", "table3"]).env("TFKD_RESULTS_DIR", home.path().join("r")).output().unwrap();
    let said = text(&out);
    assert!(
        !out.status.success()
            && said.contains("base-resnet18-s1.json: not a run record")
            && !said.contains("no run records"),
        "{said}"
    );
}

/// A decode cache damaged on disk (bytes zeroed in the middle, same size) is detected on load, said, and
/// rebuilt from the source — never trained on — and `tfkd clean --damaged` removes a damaged one.
#[test]
fn a_damaged_decode_cache_is_detected_rebuilt_and_cleaned() {
    let home = tempfile::tempdir().unwrap();
    own_decode_cache(home.path());
    let args = smoke_run("base-cnn5", "1", &["train.epochs=1", "train.warmup_epochs=0"]);
    let one: Vec<&str> = args.iter().map(String::as_str).collect();
    let one = one.as_slice();
    ok(tfkd(home.path(), one).output().unwrap());
    let reference = numbers(home.path(), "base-cnn5@230");
    let cache: PathBuf = std::fs::read_dir(home.path().join("cache/decoded"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bin"))
        .unwrap();
    let damage = || {
        let mut bytes = std::fs::read(&cache).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..mid + 1_000_000].fill(0);
        std::fs::write(&cache, bytes).unwrap();
    };
    damage();
    std::fs::remove_dir_all(home.path().join("cache/runs")).unwrap();
    let again = ok(tfkd(home.path(), one).output().unwrap());
    assert!(again.contains("do not match their checksum") && again.contains("rebuilding"), "{again}");
    assert_eq!(numbers(home.path(), "base-cnn5@230"), reference, "trained on the rebuilt data, not the damaged");
    // With everything finished, a dry run to Slurm says there is nothing to submit (not just a header).
    let mut dry = one.to_vec();
    dry.extend(["--executor", "slurm", "--dry-run"]);
    let dry = ok(tfkd(home.path(), &dry).output().unwrap());
    assert!(dry.contains("nothing to submit"), "{dry}");
    damage();
    let cleaned = ok(tfkd(home.path(), &["clean", "--damaged"]).output().unwrap());
    assert!(cleaned.contains("removed 1 damaged or stale decode cache(s)") && !cache.exists(), "{cleaned}");
}

/// A plan far longer than the confirmation threshold is not started when nobody is there to answer (stdin
/// not a terminal, even with an `n` piped in), and says how to proceed.
#[test]
fn a_long_plan_without_a_terminal_is_not_started() {
    let home = tempfile::tempdir().unwrap();
    let args: &[&str] = &["run", "smoke", "--profile", "smoke", "--quiet", "--set", "train.epochs=100000"];
    let out = tfkd(home.path(), args).stdin(Stdio::null()).output().unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("nothing was started") && said.contains("--yes") && said.contains("--executor slurm"),
        "{said}"
    );
    let started = std::fs::read_dir(home.path().join("cache/runs")).map_or(0, |d| d.count());
    assert_eq!(started, 0, "no run folder was created: {said}");
}

/// A SIGTERM to the whole process group (the parent and its worker processes at once, as a cluster or a
/// shell's `kill -TERM -PGID` sends it) names each run it interrupted as partial and resumable, not as
/// failed, and the same command then finishes them.
#[test]
fn a_group_sigterm_names_the_interrupted_runs() {
    use std::os::unix::process::CommandExt;
    let owned = smoke_run("base-resnet8,base-cnn5", "2", &["train.epochs=6", "dataset.train_subset=1024"]);
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let args = args.as_slice();
    let home = tempfile::tempdir().unwrap();
    let child = tfkd(home.path(), args).process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let runs = home.path().join("cache/runs");
    common::wait_until("checkpoints of both runs", || common::checkpointed(&runs, false).len() >= 2);
    // SAFETY: signalling the process group of our own child.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(!said.contains("1 failed") && !said.contains("2 failed") && said.contains("0 failed"), "{said}");
    for label in ["base-resnet8@230", "base-cnn5@230"] {
        let done = home.path().join("results/smoke/smoke/runs").join(format!("{}.json", label.replace('@', "-s")));
        assert!(done.is_file() || said.contains(&format!("  {label}: ")), "{label} is named: {said}");
    }
    let resumed = ok(tfkd(home.path(), args).output().unwrap());
    assert!(resumed.contains("0 failed"), "{resumed}");
}

/// A process frozen (SIGSTOP) past the lease timeout loses its run to a second invocation, which finishes it
/// to the numbers of an uninterrupted run; woken (SIGCONT), the first writes nothing more into the run's
/// folder — no file added, changed or removed — and says it was taken over.
#[test]
fn a_frozen_holder_loses_its_lease_and_writes_nothing_after() {
    let owned = smoke_run("base-cnn5", "1", &["train.epochs=8", "dataset.train_subset=1024"]);
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let args = args.as_slice();
    let reference = tempfile::tempdir().unwrap();
    ok(tfkd(reference.path(), args).output().unwrap());
    let home = tempfile::tempdir().unwrap();
    let first = tfkd(home.path(), args)
        .env("TFKD_LEASE_SECONDS", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runs = home.path().join("cache/runs");
    let folder = || std::fs::read_dir(&runs).ok()?.flatten().next().map(|e| e.path());
    // A whole checkpoint (its JSON is written last), so the freeze falls inside training, not inside a write.
    common::wait_until("a whole checkpoint", || !common::checkpointed(&runs, true).is_empty());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGSTOP) };
    let second = ok(tfkd(home.path(), args).env("TFKD_LEASE_SECONDS", "3").output().unwrap());
    assert!(second.contains("1 trained"), "the second invocation takes the run over and finishes it: {second}");
    let dir = folder().unwrap();
    let listing = || {
        let mut files: Vec<(String, u64, std::time::SystemTime)> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|f| {
                let m = f.metadata().unwrap();
                (f.file_name().to_string_lossy().into_owned(), m.len(), m.modified().unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGCONT) };
    let out = first.wait_with_output().unwrap();
    let said = text(&out);
    assert!(said.contains("taken over by"), "the first process says it lost the run: {said}");
    assert!(!said.contains("checkpoint is kept") && !said.contains("1 failed"), "{said}");
    assert!(
        !said.contains("kept their last checkpoint") && said.contains("1 taken over"),
        "not resumable here: {said}"
    );
    assert_eq!(listing(), before, "the first process wrote nothing into the folder after losing its lease");
    assert_eq!(numbers(home.path(), "base-cnn5@230"), numbers(reference.path(), "base-cnn5@230"));
}

/// `tfkd …` without root's permission override, so a mode of 000 stops it as it stops any user (these machines
/// run tests as root, whom a plain chmod does not stop): `setpriv` drops the override from what the binary gets.
fn tfkd_unprivileged(home: &Path, args: &[&str]) -> Command {
    let plain = tfkd(home, args);
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search", "--"])
        .arg(plain.get_program())
        .args(plain.get_args())
        .current_dir(home);
    for (key, value) in plain.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

/// A cache whose `runs/` cannot be listed is an error naming the folder: `status` never says "0 done" and
/// `clean` never "removed 0" for runs it cannot see.
#[test]
fn an_unreadable_cache_is_an_error_not_an_empty_one() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("cache/runs");
    std::fs::create_dir_all(runs.join("0123456789abcdef")).unwrap();
    std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o000)).unwrap();
    for args in [&["status"][..], &["clean", "--damaged"]] {
        let out = tfkd_unprivileged(home.path(), args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        assert!(err.contains("cannot list the run folders in") && err.contains("cache/runs"), "{args:?}: {err}");
        assert_eq!(err.matches("Permission denied").count(), 1, "the cause once: {err}");
    }
    std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(!status.contains("cannot list"), "{status}");
}

/// A batch larger than the training split is valid (one partial batch per epoch, as PyTorch gives it) but
/// rarely meant: `check` and `run` say so before training.
#[test]
fn a_batch_larger_than_the_training_split_is_noted() {
    let home = tempfile::tempdir().unwrap();
    let args = ["check", "smoke", "--profile", "smoke", "--set", "train.batch_size=4096"];
    let said = ok(tfkd(home.path(), &args).output().unwrap());
    assert!(said.contains("note: batch size 4096 is larger than the") && said.contains("training images"), "{said}");
    let said = ok(tfkd(home.path(), &["check", "smoke", "--profile", "smoke"]).output().unwrap());
    assert!(!said.contains("note: batch size"), "{said}");
}
