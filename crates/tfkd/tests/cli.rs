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
fn reproduce_unknown_target_lists_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_tfkd"))
        .args(["reproduce", "table99"])
        .env("TFKD_EXPERIMENTS_DIR", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no experiment 'table99'") && err.contains("smoke"), "{err}");
}

/// The archive the repository carries: `data/cifar10-jpeg.tar.gz`.
fn bundled_cifar10_jpeg() -> std::path::PathBuf {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf();
    let path = repo.join("data/cifar10-jpeg.tar.gz");
    assert!(path.is_file(), "expected the bundled dataset at {}", path.display());
    path
}

#[test]
fn data_inspect_reports_cifar10_jpeg_counts() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tfkd"))
        .args(["data", "inspect", "cifar10-jpeg", "--json"])
        .env("TFKD_CIFAR10_JPEG", bundled_cifar10_jpeg())
        .env("TFKD_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["content_hash"], "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db");
    assert_eq!(r["train"]["images"], 50_000);
    assert_eq!(r["test"]["images"], 10_000);
    assert_eq!(r["train"]["per_class"], serde_json::json!(vec![5000; 10]));
    assert_eq!(r["test"]["per_class"], serde_json::json!(vec![1000; 10]));
    assert_eq!(r["classes"][0], "airplane");
}

#[test]
fn data_inspect_missing_dataset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tfkd"))
        .args(["data", "inspect", "cifar100"])
        .env("TFKD_DATA_DIR", dir.path())
        .env("TFKD_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dataset 'cifar100' not found") && err.contains("tfkd data fetch cifar100"), "{err}");
}

#[test]
fn models_lists_the_official_counts() {
    let out = tfkd(&["models", "--classes", "100", "--json"]);
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let count = |name: &str| rows.iter().find(|r| r["model"] == name).unwrap()["params"].as_i64().unwrap();
    assert_eq!(count("resnet18"), 11_220_132);
    assert_eq!(count("resnext29_8x64d"), 34_518_948);
    assert_eq!(count("cnn5"), 369_124);
}

/// `data inspect` of a source whose sampled images do not all decode lists them as FAILED and exits non-zero,
/// so a script checking a dataset before a long run stops there.
#[test]
fn data_inspect_fails_when_a_sampled_image_does_not_decode() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tfkd-datasets/tests/fixtures/ilsvrc");
    let root = dir.path().join("imagenet");
    assert!(Command::new("cp").arg("-r").arg(&fixture).arg(&root).status().unwrap().success());
    // Starts and ends as a JPEG does, so indexing keeps it; only decoding finds it is not one.
    let bad = root.join("train/n04266014/n04266014_3001.JPEG");
    std::fs::write(&bad, [&[0xff, 0xd8, 0xff, 0xe0][..], &[0x55; 64], &[0xff, 0xd9]].concat()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tfkd"))
        .args(["data", "inspect", "imagenet"])
        .env("TFKD_IMAGENET", &root)
        .env("TFKD_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED") && stdout.contains("n04266014_3001.JPEG"), "{stdout}");
    assert!(stderr.contains("1 sampled image(s) failed to decode"), "{stderr}");
}
