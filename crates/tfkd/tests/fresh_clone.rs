//! The project as a new user gets it: `git clone` into an empty folder with nothing beside it, no `TFKD_*`
//! variables, and the main job run from inside the clone (smoke profile, with this build's binary).

use std::{path::Path, process::Command};

mod common;

use common::{repo, text};

/// `tfkd` in `dir` with every `TFKD_*` variable removed, as in a user's shell.
fn tfkd_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tfkd"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TFKD_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).current_dir(dir).output().unwrap()
}

#[test]
fn reproduce_table3_smoke_in_a_fresh_clone() {
    let empty = tempfile::tempdir().unwrap();
    let clone = empty.path().join("tfkd");
    let out = Command::new("git").args(["clone", "--quiet", "--no-local"]).arg(repo()).arg(&clone).output().unwrap();
    assert!(out.status.success(), "git clone: {}", text(&out));
    assert!(!empty.path().join("shared").exists() && !clone.join(".cache").exists());

    let out = tfkd_in(&clone, &["reproduce", "table3", "--profile", "smoke", "--quiet"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("table and figures written to"), "{said}");
    let dir = clone.join("results/rekd-tiny-imagenet/smoke");
    assert!(dir.join("table.md").is_file() && dir.join("re-kd.png").is_file(), "{said}");
    let record = std::fs::read_dir(dir.join("runs")).unwrap().next().unwrap().unwrap().path();
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    assert_eq!(record["data_hash"], tfkd_datasets_sha(), "trained on the archive the repository carries");

    // From a folder inside the clone, tfkd finds the same project root (data, cache and results).
    let out = tfkd_in(&clone.join("crates"), &["status", "table3", "--profile", "smoke"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("done") && !said.contains("pending"), "{said}");
}

/// The published sha256 of `data/cifar10-jpeg.tar.gz` (data/README.md).
fn tfkd_datasets_sha() -> &'static str {
    "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"
}

/// Nothing the project runs or tests refers to the team folder beside the repository, which users do not have.
#[test]
fn nothing_refers_to_a_folder_outside_the_repository() {
    // Built at run time, so this file does not match itself.
    let (outside, team_data) = (format!("{}/shared", ".."), format!("{}/data", "shared"));
    let out = Command::new("git")
        .args([
            "grep", "-n", "-F", "-e", &outside, "-e", &team_data, "--", "*.rs", "*.sh", "justfile", "*.yaml", "*.py",
            ".ci/*",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "references outside the repository:\n{}", String::from_utf8_lossy(&out.stdout));
}
