//! Records no training writes are refused when a results folder is read, naming the file and the value: an
//! accuracy of 1e308 (which once sent the figure code into a spin), 7.5 or −3.0, a non-finite loss, and a copy
//! of a record under another name (which would have counted as another seed).

use std::path::{Path, PathBuf};

fn committed_runs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().join("results/rekd-tiny-imagenet/quick/runs")
}

/// A copy of the committed records with `edit` applied to the record `label`; returns the folder and that file.
fn copy_with(edit: &dyn Fn(&mut serde_json::Value)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut edited = PathBuf::new();
    for e in std::fs::read_dir(committed_runs()).unwrap().flatten() {
        let mut r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        let dst = dir.path().join(e.file_name());
        if r["label"] == "rekd-resnet18-from-mobilenetv2@1" {
            edit(&mut r);
            edited = dst.clone();
        }
        std::fs::write(&dst, r.to_string()).unwrap();
    }
    (dir, edited)
}

fn error_of(dir: &Path) -> String {
    tfkd_report::load_dir(dir).map(|r| format!("loaded {} records", r.len())).unwrap_or_else(|e| e.to_string())
}

#[test]
fn the_committed_records_load() {
    assert!(tfkd_report::load_dir(&committed_runs()).is_ok_and(|r| r.len() == 21));
}

#[test]
fn accuracies_outside_zero_to_one_are_refused() {
    for bad in [1e308, 7.5, -3.0] {
        let (dir, file) = copy_with(&|r| r["summary"]["best_test_acc"] = bad.into());
        let err = error_of(dir.path());
        assert!(err.starts_with(&file.display().to_string()), "{err}");
        assert!(err.contains(&format!("summary.best_test_acc = {bad} is not an accuracy in [0, 1]")), "{err}");
    }
    let (dir, _) = copy_with(&|r| r["metrics"][0]["test_acc"] = 2.0.into());
    assert!(
        error_of(dir.path()).contains("metrics[epoch 1].test_acc = 2 is not an accuracy"),
        "{}",
        error_of(dir.path())
    );
}

#[test]
fn non_finite_losses_and_epochs_beyond_the_schedule_are_refused() {
    // JSON has no NaN or infinity; a number too large for f64 reads as infinity.
    let (dir, file) = copy_with(&|r| r["metrics"][0]["train_loss"] = serde_json::Value::Null);
    let err = error_of(dir.path());
    assert!(err.starts_with(&file.display().to_string()), "a loss that is not a number names its file: {err}");
    let (dir, _) = copy_with(&|r| r["summary"]["epochs"] = 60.into());
    assert!(error_of(dir.path()).contains("an epoch beyond the 6 its settings train for"), "{}", error_of(dir.path()));
}

#[test]
fn a_record_copied_under_another_name_is_not_a_second_seed() {
    let (dir, file) = copy_with(&|_| {});
    let copy = dir.path().join("zz-copy.json");
    std::fs::copy(&file, &copy).unwrap();
    let err = error_of(dir.path());
    assert!(err.contains("a second record of run rekd-resnet18-from-mobilenetv2@1"), "{err}");
}
