//! The `tfkd` binary as a user runs it: no `LD_LIBRARY_PATH`, libtorch found through the rpath.

use std::process::Command;

fn tfkd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tfkd")).args(args).env_remove("LD_LIBRARY_PATH").output().unwrap()
}

#[test]
fn doctor_reports_pinned_libtorch() {
    let out = tfkd(&["doctor", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = report["libtorch_version"].as_str().unwrap();
    assert!(version == "2.11.0" || version.starts_with("2.11.0+"), "libtorch {version}");
    assert!(report["threads"].as_i64().unwrap() >= 1);
    assert_eq!(report["libtorch_loaded_from"], report["libtorch_built_against"]);
}

#[test]
fn reproduce_refuses_honestly_until_targets_exist() {
    let out = tfkd(&["reproduce", "table3"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reproduce 'table3' yet"), "{err}");
}
