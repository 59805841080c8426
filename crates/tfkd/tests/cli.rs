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
    // This machine's glibc takes the binary's allocator thresholds (crates/tfkd-commands/src/allocator.rs).
    let allocator = report["allocator"].as_str().unwrap();
    if cfg!(all(target_os = "linux", target_env = "gnu")) && std::env::var_os("GLIBC_TUNABLES").is_none() {
        assert!(allocator.starts_with("freed buffers kept in the heap"), "{allocator}");
    }
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

/// `check` opens the teacher files a spec names: a file whose sha256 is not the one its torchvision-style name
/// says, and a pickle that would run code, each fail `check` naming the file — not hours later when the
/// students start. A file not downloaded yet is said, and `check` still plans.
#[test]
fn check_opens_the_teacher_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let check = |spec: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_tfkd"))
            .args(["check", spec.to_str().unwrap(), "--profile", "smoke"])
            .env("TFKD_WEIGHTS", dir.path())
            .env("TFKD_CACHE_DIR", dir.path().join("cache"))
            .env("TFKD_EXPERIMENTS_DIR", repo.join("experiments"))
            .env("TORCH_HOME", dir.path().join("torch"))
            .output()
            .unwrap()
    };
    let spec = dir.path().join("teacher.yaml");
    let write_spec = |weights: &str, sha: Option<&str>| {
        let sha = sha.map_or(String::new(), |s| format!(", sha256: {s}"));
        let text = format!(
            "extends: {}\nname: teacher-check\ntitle: t\nruns:\n  - id: self-resnet18\n    model: torchvision.resnet18\n    \
             method: {{ kind: tf-kd-self, alpha: 0.1, temperature: 20, multiplier: 1 }}\n    \
             teacher: {{ model: torchvision.resnet18, weights: {weights}{sha} }}\n",
            repo.join("experiments/imagenet-defaults.yaml").display()
        );
        std::fs::write(&spec, text).unwrap();
    };
    write_spec("resnet18-f37072fd.pth", None);
    let out = check(&spec);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("resnet18-f37072fd.pth: not found yet"), "{said}");

    std::fs::write(dir.path().join("resnet18-f37072fd.pth"), b"not the torchvision file").unwrap();
    let out = check(&spec);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("resnet18-f37072fd.pth") && said.contains("sha256"), "{said}");

    // posix.system("id") as a protocol-2 pickle, with its true sha256 in the spec.
    let evil = dir.path().join("evil.pth");
    std::fs::write(&evil, b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.").unwrap();
    let sum = Command::new("sha256sum").arg(&evil).output().unwrap();
    let sha = String::from_utf8_lossy(&sum.stdout).split_whitespace().next().unwrap().to_string();
    write_spec("evil.pth", Some(&sha));
    let out = check(&spec);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("evil.pth"), "{said}");
}

/// An experiment of one's own, in an empty folder outside the repository: `tfkd new` writes a skeleton whose
/// `extends: defaults.yaml` is found among the defaults built into tfkd (no experiments folder here), `run`
/// trains it, and `report` writes its table, figures and a verdict for each claim it declares.
#[test]
fn an_own_experiment_from_the_skeleton_gets_a_table_figures_and_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tfkd = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tfkd"))
            .args(args)
            .current_dir(dir.path())
            .env("TFKD_DATA_DIR", repo.join("data"))
            .env("TFKD_EXPERIMENTS_DIR", dir.path().join("no-experiments-here"))
            .env_remove("TFKD_RESULTS_DIR")
            .env_remove("TFKD_CACHE_DIR")
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "tfkd {args:?}: {said}");
        said
    };
    let said = tfkd(&["new", "my-study"]);
    assert!(said.contains("my-study.yaml"), "{said}");
    let said = tfkd(&["run", "my-study.yaml", "--profile", "smoke", "--quiet"]);
    assert!(said.contains("verdicts:"), "run reports its claims: {said}");
    tfkd(&["report", "my-study.yaml", "--profile", "smoke"]);
    let out = dir.path().join("results/my-study/smoke");
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(table.contains("## Entries") && table.contains("| kd-student | shufflenetv2 | kd | teacher |"), "{table}");
    assert!(table.contains("## Claims") && table.contains("KD beats the student's baseline"), "{table}");
    let verdicts = ["holds", "not significant", "underpowered", "contradicted"];
    let claim_lines: Vec<&str> =
        table.lines().filter(|l| l.starts_with("| KD beats") || l.starts_with("| label smoothing")).collect();
    assert_eq!(claim_lines.len(), 2, "{table}");
    for line in claim_lines {
        assert!(verdicts.iter().any(|v| line.contains(&format!("**{v}"))), "a verdict per claim: {line}");
    }
    for file in ["table.csv", "table.tex", "report.json", "entries.png", "entries.svg", "verdicts.png"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    let index = std::fs::read_to_string(dir.path().join("results/README.md")).unwrap();
    assert!(index.contains("[my-study](my-study/smoke/table.md)"), "{index}");
}
