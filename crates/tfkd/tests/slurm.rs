//! `--executor slurm` against a real Slurm: `just test-slurm` starts a one-node cluster on this machine
//! (scripts/slurm-local.sh: Debian's slurm-wlm and munge, loopback only), runs these tests and stops it.
//! Without a cluster they are ignored (`cargo test` alone does not start daemons).
//!
//! What they check, all on the CPU with the smoke spec: the records of a Slurm run equal a local run's
//! bit for bit and a second submission submits nothing; a failing teacher leaves its students cancelled
//! with the reason in `tfkd status`; a task sent SIGTERM mid-run checkpoints, is requeued, and finishes
//! with the numbers of an uninterrupted run.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

mod common;

use common::{numbers, ok, text};

/// A `tfkd` command as [`common::tfkd`], polling Slurm every half second.
fn tfkd(home: &Path, args: &[&str]) -> Command {
    let mut cmd = common::tfkd(home, args);
    cmd.env("TFKD_SLURM_POLL", "0.5");
    cmd
}

fn slurm(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    ok(out)
}

fn submitted_job(home: &Path, run_id: &str) -> String {
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("cache/runs").join(run_id).join("slurm.json")).unwrap(),
    )
    .unwrap();
    format!("{}_{}", s["job"]["array"], s["job"]["task"])
}

fn run_id(home: &Path, label: &str) -> String {
    let status = ok(tfkd(home, &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    let line = status.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("{status}"));
    line.split('[').nth(1).unwrap().split(']').next().unwrap().to_string()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const PAIR: &[&str] = &["--profile", "smoke", "--quiet", "--only", "kd-cnn5-from-resnet8"];

#[test]
#[ignore = "needs a Slurm cluster: `just test-slurm` starts one"]
fn slurm_records_equal_local_and_nothing_is_submitted_twice() {
    let (local, cluster) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(tfkd(local.path(), &[&["run", "smoke"], PAIR].concat()).output().unwrap());
    let first = ok(tfkd(cluster.path(), &[&["reproduce", "smoke", "--executor", "slurm", "--wait"], PAIR].concat())
        .output()
        .unwrap());
    assert!(first.contains("submitted 2 run(s)") && first.contains("after "), "{first}");
    for label in ["base-resnet8@230", "kd-cnn5-from-resnet8@230"] {
        assert_eq!(numbers(cluster.path(), label), numbers(local.path(), label), "{label}");
    }
    // The student waited for its teacher's task.
    let student = submitted_job(cluster.path(), &run_id(cluster.path(), "kd-cnn5-from-resnet8@230"));
    let teacher = submitted_job(cluster.path(), &run_id(cluster.path(), "base-resnet8@230"));
    let shown = slurm(&["scontrol", "show", "job", "-o", &student]);
    assert!(shown.contains("JobState=COMPLETED"), "{shown}");
    assert_ne!(student.split('_').next(), teacher.split('_').next());

    let again =
        ok(tfkd(cluster.path(), &[&["reproduce", "smoke", "--executor", "slurm"], PAIR].concat()).output().unwrap());
    assert!(!again.contains("submitted") && again.contains("0 trained, 2 cached"), "{again}");
}

#[test]
#[ignore = "needs a Slurm cluster: `just test-slurm` starts one"]
fn a_failing_teacher_cancels_its_students_and_status_says_why() {
    let home = tempfile::tempdir().unwrap();
    let only = ["--profile", "smoke", "--quiet", "--only", "rekd-resnet8-from-cnn5,kd-cnn5-from-resnet8"];
    let out = tfkd(home.path(), &[&["run", "smoke", "--executor", "slurm", "--wait"], &only[..]].concat())
        .env("TFKD_FAULT_NAN", "base-cnn5@230:3")
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("base-cnn5@230") && said.contains("rekd-resnet8-from-cnn5@230"), "{said}");
    let status = ok(tfkd(home.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    let line = |label: &str| status.lines().find(|l| l.trim_start().starts_with(label)).unwrap().to_string();
    assert!(line("base-cnn5@230").contains("failed") && line("base-cnn5@230").contains("NaN"), "{status}");
    let student = line("rekd-resnet8-from-cnn5@230");
    assert!(
        student.contains("its teacher run base-cnn5@230 failed")
            && student.contains("CANCELLED (DependencyNeverSatisfied"),
        "{status}"
    );
    // The other teacher and its student were not held up by the failure.
    assert!(line("kd-cnn5-from-resnet8@230").contains("done"), "{status}");
}

#[test]
#[ignore = "needs a Slurm cluster: `just test-slurm` starts one"]
fn a_task_sent_sigterm_checkpoints_requeues_and_ends_as_if_uninterrupted() {
    let (local, cluster) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Long enough to be caught mid-run: 4 epochs of 2,048 images.
    let longer = [
        "--profile",
        "smoke",
        "--quiet",
        "--only",
        "base-resnet8",
        "--set",
        "dataset.train_subset=2048",
        "--set",
        "train.epochs=4",
    ];
    ok(tfkd(local.path(), &[&["run", "smoke"], &longer[..]].concat()).output().unwrap());
    let submit =
        ok(tfkd(cluster.path(), &[&["run", "smoke", "--executor", "slurm"], &longer[..]].concat()).output().unwrap());
    assert!(submit.contains("submitted 1 run(s)"), "{submit}");
    let runs = cluster.path().join("cache/runs");
    let id = std::fs::read_dir(&runs).unwrap().flatten().find(|e| e.path().join("slurm.json").is_file()).unwrap();
    let run = id.path();
    let job = submitted_job(cluster.path(), &id.file_name().to_string_lossy());
    // Mid-run: after its first epoch's checkpoint, before its last.
    wait_for("the first epoch's checkpoint", Duration::from_secs(120), || {
        std::fs::read_dir(&run).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with("state-"))
    });
    slurm(&["scancel", "--signal=TERM", "--full", &job]);
    // The requeued task waits out Slurm's credential lifetime (10 s on the test cluster) before it starts again;
    // forcing an earlier start races slurmd's clean-up of the first incarnation, which then fails to launch.
    wait_for("the requeue", Duration::from_secs(60), || {
        let shown = slurm(&["scontrol", "show", "job", "-o", &job]);
        shown.contains("Restarts=1") && shown.contains("JobState=PENDING")
    });
    let end = ok(tfkd(cluster.path(), &[&["run", "smoke", "--executor", "slurm", "--wait"], &longer[..]].concat())
        .output()
        .unwrap());
    assert!(!end.contains("submitted"), "{end}");
    let log = std::fs::read_to_string(cluster.path().join(format!("cache/slurm/logs/{job}.log"))).unwrap();
    assert!(log.contains("SIGTERM: the worker checkpoints") && log.contains("start 2"), "{log}");
    let resumed: Vec<u64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "run-start")
        .map(|e| e["resumed_epochs"].as_u64().unwrap())
        .collect();
    assert!(resumed.len() == 2 && resumed[0] == 0 && resumed[1] >= 1, "{resumed:?}\n{log}");
    assert_eq!(numbers(cluster.path(), "base-resnet8@230"), numbers(local.path(), "base-resnet8@230"));
}
