//! The executor seam: the hidden `shell` executor (a minimal batch system written against the `Executor`
//! trait only) trains a target's runs as the local executor does, and `tfkd status` shows its jobs.

mod common;

use common::{ok, tfkd};

#[test]
fn the_shell_executor_trains_what_local_trains_and_status_shows_its_jobs() {
    let (local, shell) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["run", "smoke", "--profile", "smoke", "--quiet", "--only", "kd-cnn5-from-resnet8"];
    ok(tfkd(local.path(), &args).output().unwrap());
    let with_shell: Vec<&str> = args.iter().copied().chain(["--executor", "shell"]).collect();
    ok(tfkd(shell.path(), &with_shell).output().unwrap());
    let (a, b) = (common::records(local.path()), common::records(shell.path()));
    assert_eq!(a.len(), 2, "the student and its teacher: {a:?}");
    assert_eq!(a, b, "the shell executor changed a record");

    // Each run went through its own script, teacher first, and status shows how each job ended.
    let queue = shell.path().join("cache/shell");
    assert_eq!(std::fs::read_dir(&queue).unwrap().count(), 2);
    let status = ok(tfkd(shell.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    let student = status.lines().find(|l| l.contains("kd-cnn5-from-resnet8@230")).unwrap();
    assert!(student.contains("done"), "{status}");
    let teacher = status.lines().find(|l| l.contains("base-resnet8@230")).unwrap();
    assert!(teacher.contains("done"), "{status}");

    // A second pass finds nothing left: no job is queued again.
    let again = ok(tfkd(shell.path(), &with_shell).output().unwrap());
    assert!(again.contains("0 trained, 2 cached"), "{again}");
}

#[test]
fn status_shows_how_a_shell_job_ended() {
    let home = tempfile::tempdir().unwrap();
    let args = ["run", "smoke", "--profile", "smoke", "--quiet", "--only", "base-cnn5", "--executor", "shell"];
    let out = tfkd(home.path(), &args).env("TFKD_FAULT_NAN", "base-cnn5@230:1").output().unwrap();
    assert!(!out.status.success() && common::text(&out).contains("1 run(s) failed"), "{}", common::text(&out));
    let status = ok(tfkd(home.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    let line = status.lines().find(|l| l.contains("base-cnn5@230")).unwrap();
    assert!(line.contains("failed") && line.contains("shell: exit 1"), "{status}");
}

#[test]
fn the_shell_executor_is_hidden_and_an_unknown_one_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let help = ok(tfkd(home.path(), &["run", "--help"]).output().unwrap());
    assert!(help.contains("local") && help.contains("slurm") && !help.contains("shell"), "{help}");
    let out = tfkd(home.path(), &["run", "smoke", "--executor", "ray"]).output().unwrap();
    assert!(!out.status.success() && common::text(&out).contains("ray"), "{}", common::text(&out));
    let dry = tfkd(home.path(), &["run", "smoke", "--profile", "smoke", "--executor", "shell", "--dry-run"])
        .output()
        .unwrap();
    let said = common::text(&dry);
    assert!(!dry.status.success() && said.contains("--dry-run goes with --executor slurm"), "{said}");
    assert!(!home.path().join("cache/shell").exists(), "a refused shell run queued nothing");
}

/// A job that dies without a word (here the fault hook aborts it, as an out-of-memory kill would end it) fails
/// its run with how the job ended; the collecting pass does not train the run again in this process.
#[test]
fn a_shell_job_that_dies_fails_its_run_instead_of_training_it_here() {
    let home = tempfile::tempdir().unwrap();
    let args = ["run", "smoke", "--profile", "smoke", "--quiet", "--only", "base-cnn5", "--executor", "shell"];
    let out = tfkd(home.path(), &args).env("TFKD_FAULT_ABORT", "base-cnn5@230:1").output().unwrap();
    let said = common::text(&out);
    assert!(!out.status.success() && said.contains("1 run(s) failed"), "{said}");
    assert!(said.contains("its shell job ended (killed") && said.contains("job.log"), "{said}");
    let runs = home.path().join("results/smoke/smoke/runs");
    let none = !runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none();
    assert!(none, "no record: the run was not trained here");
    let status = ok(tfkd(home.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    let line = status.lines().find(|l| l.contains("base-cnn5@230")).unwrap();
    assert!(line.contains("failed") && line.contains("shell: killed"), "{status}");
}
