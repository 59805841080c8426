//! The cost estimate against the time the same training then takes on this machine.

use std::time::Instant;

mod common;

use common::tfkd;

fn seconds_estimated(text: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with("estimated time here:")).unwrap_or_else(|| panic!("{text}"));
    line.split(" (")
        .nth(1)
        .and_then(|s| s.split(" s)").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// Four runs (two teachers, a KD student, Tf-KD_reg) of 3 epochs on 2,048 images: `check` measures the
/// throughput (and decodes the data) once; the estimate `run` then prints must be within 2× of its own
/// wall time.
#[test]
fn the_estimate_is_within_twice_the_measured_time() {
    let home = tempfile::tempdir().unwrap();
    let args = ["--profile", "smoke", "--set", "dataset.train_subset=2048", "--set", "train.epochs=3"];
    let check = tfkd(home.path(), &[&["check", "smoke"], &args[..]].concat()).output().unwrap();
    let said = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "{said}{}", String::from_utf8_lossy(&check.stderr));
    let from_check = seconds_estimated(&said);
    let start = Instant::now();
    let run = tfkd(
        home.path(),
        &[&["run", "smoke", "--quiet", "--only", "kd-cnn5-from-resnet8,reg-resnet8"], &args[..]].concat(),
    )
    .output()
    .unwrap();
    let took = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{err}");
    let estimated = seconds_estimated(&err);
    assert!(
        estimated < from_check,
        "the estimate of a subset ({estimated} s) is below the whole target's ({from_check} s)"
    );
    assert!(estimated <= 2.0 * took && took <= 2.0 * estimated, "estimated {estimated:.1} s, took {took:.1} s\n{err}");
}
