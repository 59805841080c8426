//! The experiment engine through the binary: a smoke target end to end, caching, kill -9 and resume, NaN,
//! worker processes (`--jobs`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

mod common;

use common::{ok, repo, tfkd};

fn record(home: &Path, profile: &str, label: &str) -> serde_json::Value {
    let path = home.join("results/smoke").join(profile).join("runs").join(format!("{label}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn smoke_target_end_to_end_then_cached() {
    let home = tempfile::tempdir().unwrap();
    let first = ok(tfkd(home.path(), &["reproduce", "smoke", "--profile", "smoke", "--quiet"]).output().unwrap());
    assert!(first.contains("smoke: 8 trained, 0 cached, 0 failed"), "{first}");
    for label in [
        "base-resnet8-s230",
        "kd-cnn5-from-resnet8-s230",
        "rekd-resnet8-from-cnn5-s230",
        "dekd-cnn5-from-resnet8-s230",
        "lsr-resnet8-s230",
        "self-resnet8-s230",
        "reg-resnet8-s230",
    ] {
        let r = record(home.path(), "smoke", label);
        assert_eq!(r["metrics"].as_array().unwrap().len(), 2, "{label}");
        assert_eq!(r["split_sizes"], serde_json::json!([512, 128, 256]));
        assert!(r["provenance"]["libtorch"].as_str().unwrap().starts_with("2.11.0"));
        assert_eq!(r["provenance"]["threads"], 1);
    }
    assert_eq!(record(home.path(), "smoke", "dekd-cnn5-from-resnet8-s230")["teacher_epoch"], 1);
    // Second invocation: nothing is trained, and it says so.
    let second = ok(tfkd(home.path(), &["reproduce", "smoke", "--profile", "smoke", "--quiet"]).output().unwrap());
    assert!(second.contains("smoke: 0 trained, 8 cached, 0 failed"), "{second}");
    assert!(second.contains("already trained, not training again"), "{second}");
    let status = ok(tfkd(home.path(), &["status", "smoke", "--profile", "smoke"]).output().unwrap());
    assert_eq!(status.matches("] done").count(), 8, "{status}");
}

/// The resume test's run: 4 epochs of a small ResNet on 1,024 images, one thread.
const RESUME: &[&str] = &[
    "run",
    "smoke",
    "--profile",
    "smoke",
    "--quiet",
    "--only",
    "base-resnet8",
    "--set",
    "train.epochs=4",
    "--set",
    "dataset.train_subset=1024",
];

/// A run's metrics (without wall times) and its final checkpoint's bytes (the one after the most steps).
fn final_state_of(home: &Path, label: &str) -> (serde_json::Value, Vec<u8>) {
    let r = record(home, "smoke", label);
    let run_dir = home.join("cache/runs").join(r["run_id"].as_str().unwrap());
    let last = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap().file_name().to_str()?.strip_prefix("state-")?.strip_suffix(".safetensors")?.parse::<u64>().ok()
        })
        .max()
        .unwrap();
    let weights = std::fs::read(run_dir.join(format!("state-{last}.safetensors"))).unwrap();
    let metrics = common::untimed_metrics(&r);
    (metrics, weights)
}

fn final_state(home: &Path) -> (serde_json::Value, Vec<u8>) {
    final_state_of(home, "base-resnet8-s230")
}

#[test]
fn kill_9_then_resume_is_bit_identical() {
    let reference = tempfile::tempdir().unwrap();
    ok(tfkd(reference.path(), RESUME).output().unwrap());
    let (want_metrics, want_weights) = final_state(reference.path());

    let home = tempfile::tempdir().unwrap();
    let mut child = tfkd(home.path(), RESUME)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until two epochs are checkpointed, then kill in the middle of the third.
    let runs = home.path().join("cache/runs");
    common::wait_until("a checkpoint after two epochs", || common::checkpointed_epochs(&runs).iter().any(|&e| e >= 2));
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be killed");
    let partial = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(partial.contains("partial"), "{partial}");

    let resumed = ok(tfkd(home.path(), RESUME).output().unwrap());
    assert!(resumed.contains("resuming after epoch"), "{resumed}");
    let (got_metrics, got_weights) = final_state(home.path());
    assert_eq!(got_metrics, want_metrics, "metrics after resume");
    assert!(got_weights == want_weights, "final weights differ after resume");
}

#[test]
fn nan_loss_stops_and_marks_the_run_failed() {
    let home = tempfile::tempdir().unwrap();
    let args = ["run", "smoke", "--profile", "smoke", "--quiet", "--only", "base-cnn5"];
    let nan = |cmd: &mut Command| cmd.env("TFKD_FAULT_NAN", "base-cnn5@230:5").output().unwrap();
    let out = nan(&mut tfkd(home.path(), &args));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("non-finite loss at epoch 1, batch 5 (step 5)"), "{err}");
    assert!(err.contains("1 run(s) failed"), "{err}");
    let status = ok(tfkd(home.path(), &["status"]).output().unwrap());
    assert!(status.contains("1 failed") && status.contains("non-finite loss"), "{status}");
    // A second attempt does not retrain silently; clean --failed lets it retry.
    let again = nan(&mut tfkd(home.path(), &args));
    assert!(String::from_utf8_lossy(&again.stderr).contains("failed earlier"));
    let cleaned = ok(tfkd(home.path(), &["clean", "--failed"]).output().unwrap());
    assert!(cleaned.contains("removed 1 failed run(s)"), "{cleaned}");
}

#[test]
fn bad_spec_is_rejected_before_training() {
    let home = tempfile::tempdir().unwrap();
    let spec = home.path().join("bad.yaml");
    std::fs::write(&spec, "extends: ../nothing.yaml\nname: bad\nrunz: []\n").unwrap();
    let out = tfkd(home.path(), &["check", spec.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:3:1: unknown field `runz`"), "{err}");
    let out = tfkd(home.path(), &["run", "smoke", "--profile", "smoke", "--set", "train.epochz=1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `epochz`"));
    assert!(!home.path().join("cache/runs").exists(), "nothing trained");
}

/// `reproduce table3 --profile smoke` end to end (alias, training, report), with its metrics held to
/// the committed values within a stated tolerance: ±1.6 accuracy points (two of its 128 test images —
/// other CPUs may round differently) and ±0.005 in final training loss. `TFKD_BLESS=1` rewrites them.
#[test]
fn table3_smoke_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(tfkd(home.path(), &["reproduce", "table3", "--profile", "smoke", "--quiet"]).output().unwrap());
    assert!(
        out.contains("table3 = rekd-tiny-imagenet (table numbering verified against the paper's full text)"),
        "{out}"
    );
    assert!(out.contains("Dataset substituted: tiny-imagenet → cifar10-jpeg"), "{out}");
    assert!(out.contains("table and figures written to"), "{out}");
    let dir = home.path().join("results/rekd-tiny-imagenet/smoke");
    assert!(dir.join("table.md").is_file() && dir.join("re-kd.svg").is_file() && dir.join("re-kd.png").is_file());
    let runs = std::fs::read_dir(dir.join("runs")).unwrap().count();
    assert_eq!(runs, 4, "every run of the smoke profile is recorded");
    // The estimate printed first is kept beside the records and set against the measured time.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(report["timing"]["estimated_s"].as_f64().is_some_and(|s| s > 0.0), "{}", report["timing"]);
    assert!(report["timing"]["measured_s"].as_f64().is_some_and(|s| s > 0.0), "{}", report["timing"]);
    assert_eq!(report["timing"]["runs"].as_array().unwrap().len(), runs);
    let index = std::fs::read_to_string(home.path().join("results/README.md")).unwrap();
    assert!(index.contains("| table3 | [rekd-tiny-imagenet](rekd-tiny-imagenet/smoke/table.md) | smoke |"), "{index}");
}

/// A smoke-sized run must learn: airplanes against frogs, two classes of the bundled real images, 1,000
/// training images, 3 epochs of the 5-layer CNN — seconds on a CPU. The threshold does not come from the
/// program's output: with 400 test images (200 a class) a model at chance scores 50% with a standard
/// deviation of √(0.25/400) = 2.5 points, so 70% is eight standard deviations above chance, and the two
/// classes differ already in colour (sky against grass and mud). A model or loop that cannot learn fails here,
/// where the table3 smoke profile's accuracies (10 classes, one epoch) would not show it.
#[test]
fn a_smoke_sized_run_learns_two_easy_classes() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("two-classes");
    std::fs::create_dir_all(&data).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(repo().join("data/cifar10-jpeg.tar.gz"))
        .arg("-C")
        .arg(&data)
        .args(["train/airplane", "train/frog", "test/airplane", "test/frog"])
        .status()
        .unwrap();
    assert!(status.success());
    let spec = home.path().join("two-classes.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"name: two-classes
title: Airplane against frog
dataset: {{ source: imagefolder, path: "{}", augment: none, normalize: half, val_size: 0 }}
train: {{ epochs: 3, batch_size: 50, lr: 0.05, lr_batch_scaling: false, momentum: 0.9, weight_decay: 5.0e-4,
         milestones: [0.5], gamma: 0.2, threads: 1 }}
model: {{ width: 0.25 }}
runs: [{{ id: cnn, model: cnn5, method: {{ kind: baseline }} }}]
profiles:
  smoke:
    description: seconds
    dataset: {{ train_subset: 1000, test_subset: 400 }}
    seeds: [1]
"#,
            data.display()
        ),
    )
    .unwrap();
    ok(tfkd(home.path(), &["run", spec.to_str().unwrap(), "--profile", "smoke", "--quiet"]).output().unwrap());
    let path = home.path().join("results/two-classes/smoke/runs/cnn-s1.json");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(r["split_sizes"], serde_json::json!([1000, 0, 400]));
    let acc = r["summary"]["last_test_acc"].as_f64().unwrap();
    assert!(acc >= 0.70, "airplane vs frog after 3 epochs: {acc} (chance 0.5 ± 0.025)");
}

/// `tfkd report` regenerates the committed tables from the committed records, byte for byte.
#[test]
fn report_regenerates_committed_tables() {
    let home = tempfile::tempdir().unwrap();
    let src = repo().join("results/rekd-tiny-imagenet/quick");
    let dst = home.path().join("results/rekd-tiny-imagenet/quick");
    std::fs::create_dir_all(dst.join("runs")).unwrap();
    for e in std::fs::read_dir(src.join("runs")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("runs").join(e.file_name())).unwrap();
    }
    let out = ok(tfkd(home.path(), &["report", "table3"]).output().unwrap());
    assert!(out.contains("table3: rekd-tiny-imagenet"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dst.join("table.md")).unwrap(),
        std::fs::read_to_string(src.join("table.md")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(dst.join("table.csv")).unwrap(),
        std::fs::read_to_string(src.join("table.csv")).unwrap()
    );
}

#[test]
fn bf16_is_refused_on_the_cpu() {
    let home = tempfile::tempdir().unwrap();
    let out = tfkd(
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
            "train.precision=bf16",
            "--device",
            "cpu",
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bf16 is for CUDA devices only"));
}

#[test]
fn a_failed_teacher_fails_its_students_in_worker_mode() {
    let home = tempfile::tempdir().unwrap();
    // Every run diverges; the students of base-resnet8 must not start, and must say why.
    let args = [
        "run",
        "smoke",
        "--profile",
        "smoke",
        "--quiet",
        "--jobs",
        "2",
        "--only",
        "kd-cnn5-from-resnet8,rekd-resnet8-from-cnn5",
    ];
    let out = tfkd(home.path(), &args).env("TFKD_FAULT_NAN", "*:3").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 run(s) failed"), "{err}");
    assert_eq!(err.matches("]: non-finite loss").count(), 2, "the two teachers diverge: {err}");
    assert_eq!(err.matches("its teacher run did not finish").count(), 2, "{err}");
}

/// A folder for a test's own specs under `home`: the project's defaults beside them, no paper aliases.
fn own_specs(home: &Path) -> PathBuf {
    let specs = home.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::copy(repo().join("experiments/defaults.yaml"), specs.join("defaults.yaml")).unwrap();
    std::fs::write(specs.join("paper.yaml"), "aliases: {}\n").unwrap();
    specs
}

/// A student learns from the teacher weights its spec selects, for every distilling method (not only
/// De-KD): the record names the epoch and its accuracy, a student told to use the epoch the teacher
/// selected anyway trains exactly like one left to the default, and one told to use another epoch does not.
#[test]
fn students_load_the_selected_teacher_epoch() {
    let home = tempfile::tempdir().unwrap();
    let specs = own_specs(home.path());
    std::fs::write(
        specs.join("pick.yaml"),
        r#"extends: defaults.yaml
name: pick
title: teacher epochs
dataset: { source: cifar10-jpeg }
runs:
  - { id: teacher, model: resnet8, method: { kind: baseline } }
  - { id: kd-default, model: cnn5, method: { kind: kd, alpha: 0.9, temperature: 4 }, teacher: teacher }
  - { id: kd-e1, model: cnn5, method: { kind: kd, alpha: 0.9, temperature: 4 }, teacher: teacher, teacher_snapshot: { epoch: 1 } }
  - { id: kd-e2, model: cnn5, method: { kind: kd, alpha: 0.9, temperature: 4 }, teacher: teacher, teacher_snapshot: { epoch: 2 } }
  - { id: kd-e3, model: cnn5, method: { kind: kd, alpha: 0.9, temperature: 4 }, teacher: teacher, teacher_snapshot: { epoch: 3 } }
  - { id: rekd-e2, model: cnn5, method: { kind: re-kd, alpha: 0.6, temperature: 20 }, teacher: teacher, teacher_snapshot: { epoch: 2 } }
  - id: self-e2
    model: resnet8
    method: { kind: tf-kd-self, alpha: 0.95, temperature: 6, multiplier: 1 }
    teacher: teacher
    teacher_snapshot: { epoch: 2 }
"#,
    )
    .unwrap();
    let run = tfkd(home.path(), &["run", specs.join("pick.yaml").to_str().unwrap(), "--profile", "smoke", "--quiet"])
        .env("TFKD_EXPERIMENTS_DIR", &specs)
        .env("TFKD_RESULTS_DIR", home.path().join("results"))
        .args(["--set", "train.epochs=3"])
        .output()
        .unwrap();
    ok(run);
    let rec = |label: &str| {
        let path = home.path().join("results/pick/smoke/runs").join(format!("{}.json", label.replace('@', "-s")));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let teacher = rec("teacher@1");
    let acc_at =
        |e: u64| teacher["metrics"].as_array().unwrap().iter().find(|m| m["epoch"] == e).unwrap()["test_acc"].clone();
    // The smoke profile carves a validation split, so the teacher's selected epoch is its best on validation.
    let selected = teacher["summary"]["best_val_epoch"].as_u64().unwrap_or_else(|| panic!("{}", teacher["summary"]));
    for (label, epoch) in
        [("kd-default@1", selected), ("kd-e1@1", 1), ("kd-e2@1", 2), ("kd-e3@1", 3), ("rekd-e2@1", 2), ("self-e2@1", 2)]
    {
        let r = rec(label);
        assert_eq!(r["teacher_epoch"].as_u64(), Some(epoch), "{label}");
        assert_eq!(r["teacher_test_acc"], acc_at(epoch), "{label}");
    }
    // The per-epoch numbers without wall times.
    let curve = |label: &str| common::untimed_metrics(&rec(label)).to_string();
    assert_ne!(curve("kd-e1@1"), curve("kd-e3@1"), "different teacher weights, same student");
    assert_eq!(
        curve("kd-default@1"),
        curve(&format!("kd-e{selected}@1")),
        "the selected epoch's snapshot and the best weights teach alike"
    );
}

/// Three runs of one model (baseline, LSR, Tf-KD_reg) trained as one fused array of 3, 4 epochs.
const ARRAY_RESUME: &[&str] = &[
    "run",
    "smoke",
    "--profile",
    "smoke",
    "--quiet",
    "--jobs",
    "1",
    "--only",
    "base-resnet8,lsr-resnet8,reg-resnet8",
    "--set",
    "train.array=3",
    "--set",
    "train.epochs=4",
    "--set",
    "dataset.train_subset=1024",
];

/// Every member's metrics (without wall times) and final checkpoint bytes.
fn array_state(home: &Path) -> Vec<(serde_json::Value, Vec<u8>)> {
    ["base-resnet8-s230", "lsr-resnet8-s230", "reg-resnet8-s230"]
        .iter()
        .map(|label| {
            let r = record(home, "smoke", label);
            assert_eq!(r["provenance"]["array"]["members"].as_u64(), Some(3), "{label} trained in an array of 3");
            final_state_of(home, label)
        })
        .collect()
}

/// A fused array killed with SIGKILL mid-epoch resumes all its members, bit-identically on the CPU to the
/// same array left alone.
#[test]
fn kill_9_of_an_array_then_resume_is_bit_identical() {
    let reference = tempfile::tempdir().unwrap();
    ok(tfkd(reference.path(), ARRAY_RESUME).output().unwrap());
    let want = array_state(reference.path());

    let home = tempfile::tempdir().unwrap();
    let mut child = tfkd(home.path(), ARRAY_RESUME)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = home.path().join("cache/runs");
    common::wait_until("three members checkpointed after two epochs", || {
        common::checkpointed_epochs(&runs).iter().filter(|&&e| e >= 2).count() >= 3
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "the array finished before it could be killed");

    let resumed = ok(tfkd(home.path(), ARRAY_RESUME).output().unwrap());
    assert_eq!(resumed.matches("resuming after epoch").count(), 3, "every member resumes:\n{resumed}");
    let got = array_state(home.path());
    for (i, ((gm, gw), (wm, ww))) in got.iter().zip(&want).enumerate() {
        assert_eq!(gm, wm, "member {i}: metrics after resume");
        assert!(gw == ww, "member {i}: final weights differ after resume");
    }
}

/// Fail soft: a fused array that cannot be built (as on a device whose kernels or memory cannot take it,
/// simulated by TFKD_FAULT_ARRAY) does not end the target: its members train alone, each record says why,
/// and their numbers are those of the same runs trained alone on purpose.
#[test]
fn a_failed_array_falls_back_to_single_runs() {
    let args = common::smoke_run("base-resnet8,lsr-resnet8", "1", &["train.array=2"]);
    let home = tempfile::tempdir().unwrap();
    let out = ok(tfkd(home.path(), &args.iter().map(String::as_str).collect::<Vec<_>>())
        .env("TFKD_FAULT_ARRAY", "1")
        .output()
        .unwrap());
    assert!(out.contains("training it alone") && out.contains("2 trained"), "{out}");
    let alone = tempfile::tempdir().unwrap();
    let single = common::smoke_run("base-resnet8,lsr-resnet8", "1", &["train.array=off"]);
    ok(tfkd(alone.path(), &single.iter().map(String::as_str).collect::<Vec<_>>()).output().unwrap());
    for label in ["base-resnet8-s230", "lsr-resnet8-s230"] {
        let r = record(home.path(), "smoke", label);
        let why = r["provenance"]["array_fallback"].as_str().unwrap_or_default();
        assert!(why.contains("a fused array of 2 failed") && why.contains("TFKD_FAULT_ARRAY"), "{label}: {why}");
        assert!(r["provenance"]["array"].is_null(), "{label} trained alone");
        let untimed = |home: &Path| common::untimed_metrics(&record(home, "smoke", label));
        assert_eq!(untimed(home.path()), untimed(alone.path()), "{label}");
    }
}

/// Two entries with the same settings under other ids are one run: with worker processes (`--jobs 2`) the second
/// waits for the first and takes its result under its own name, instead of a second worker contending for the
/// same run folder.
#[test]
fn entries_with_the_same_settings_share_one_run() {
    let home = tempfile::tempdir().unwrap();
    let specs = own_specs(home.path());
    std::fs::write(
        specs.join("twice.yaml"),
        "extends: defaults.yaml\nname: twice\ntitle: one run under two ids\ndataset: { source: cifar10-jpeg }\nruns:\n  \
         - { id: first, model: cnn5, method: { kind: baseline } }\n  - { id: again, model: cnn5, method: { kind: baseline } }\n",
    )
    .unwrap();
    let out =
        tfkd(home.path(), &["run", specs.join("twice.yaml").to_str().unwrap(), "--profile", "smoke", "--jobs", "2"])
            .env("TFKD_EXPERIMENTS_DIR", &specs)
            .output()
            .unwrap();
    let said = ok(out);
    assert!(said.contains("1 trained, 1 cached, 0 failed"), "{said}");
    assert!(said.contains("the same run as first@1"), "{said}");
    let runs = home.path().join("results/twice/smoke/runs");
    let rec = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(runs.join(name)).unwrap()).unwrap()
    };
    let (first, again) = (rec("first-s1.json"), rec("again-s1.json"));
    assert_eq!(again["config"]["id"], "again");
    assert_eq!(first["run_id"], again["run_id"]);
    assert_eq!(first["summary"], again["summary"]);
}
