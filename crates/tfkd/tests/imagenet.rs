//! The ImageNet targets end to end on the CPU: `tfkd reproduce table7` and `table11` (tf-kd-self-imagenet,
//! tf-kd-reg-imagenet) with their paper profile's recipe and the ResNet18 rows, on the ILSVRC-format fixture
//! (3 classes; JPEGs of many sizes, a CMYK and two grayscale JPEGs, a PNG under a `.JPEG` name; val flat with
//! `LOC_val_solution.csv`), one epoch and one seed, with teachers given as torchvision-format `.pth` files and
//! the baseline shared by the two targets; then `tfkd export` of a student and its weights loaded back strictly.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, repo, text, tfkd};
use tch::{nn, Device};
use tfkd_models::{torchvision, Arch, ModelConfig, Network, Torchvision};

/// The ResNet18 rows' teachers as torchvision's file names give them, and the architecture of each.
const TEACHERS: [(&str, Torchvision); 2] =
    [("resnet18-f37072fd.pth", Torchvision::ResNet18), ("densenet121-a639ec97.pth", Torchvision::DenseNet121)];

/// Writes a freshly initialised 3-class model of each teacher architecture as a torchvision state dict in
/// `dir`, named `<arch>-<first 8 hex digits of its sha256>.pth` as torchvision names its files, and returns
/// the spec with the target's file names replaced by these (the real ones are 1,000-class ImageNet weights).
fn teachers(dir: &Path, spec: &str) -> (String, Vec<(String, String)>) {
    let mut spec = spec.to_string();
    let mut written = Vec::new();
    for (name, tv) in TEACHERS {
        let vs = nn::VarStore::new(Device::Cpu);
        tch::manual_seed(7);
        Network::build(&vs, Arch::Torchvision(tv), ModelConfig::new(3)).unwrap();
        let tmp = dir.join("tmp.pth");
        torchvision::export_torchvision(&vs, &tmp).unwrap();
        let sha = tfkd_datasets::sha256_file(&tmp).unwrap();
        let file = format!("{}-{}.pth", tv.name(), &sha[..8]);
        std::fs::rename(&tmp, dir.join(&file)).unwrap();
        assert!(spec.contains(name), "the target names {name}");
        spec = spec.replace(name, &file);
        written.push((file, sha));
    }
    (spec, written)
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
}

#[test]
fn the_imagenet_targets_run_end_to_end_on_an_ilsvrc_folder() {
    let home = tempfile::tempdir().unwrap();
    let (experiments, weights) = (home.path().join("experiments"), home.path().join("weights"));
    std::fs::create_dir_all(&experiments).unwrap();
    std::fs::create_dir_all(&weights).unwrap();
    let target = std::fs::read_to_string(repo().join("experiments/tf-kd-self-imagenet.yaml")).unwrap();
    // (A file whose content is not what its name says is refused: tfkd-trainers' teacher tests.)
    let (spec, written) = teachers(&weights, &target);
    std::fs::write(experiments.join("tf-kd-self-imagenet.yaml"), spec).unwrap();
    for file in ["paper.yaml", "imagenet-defaults.yaml", "tf-kd-reg-imagenet.yaml"] {
        std::fs::copy(repo().join("experiments").join(file), experiments.join(file)).unwrap();
    }
    let fixture = repo().join("crates/tfkd-datasets/tests/fixtures/ilsvrc");
    let path = format!("dataset.path={}", fixture.display());
    let sets = ["--set", "train.epochs=1", "--set", "train.precision=fp32", "--set", "seeds=[230]", "--set", &path];
    let run = |args: &[&str]| {
        let mut cmd = tfkd(home.path(), args);
        cmd.env("TFKD_EXPERIMENTS_DIR", &experiments).env("TFKD_WEIGHTS", &weights);
        cmd.output().unwrap()
    };

    let start = std::time::Instant::now();
    let only = ["--only", "base-resnet18,self-resnet18,kd-resnet18-from-densenet121"];
    let t = ok(run(&[&["reproduce", "table7", "--profile", "paper", "--yes"], &only[..], &sets[..]].concat()));
    let only = ["--only", "base-resnet18,reg-resnet18,lsr-resnet18"];
    let t11 = ok(run(&[&["reproduce", "table11", "--profile", "paper", "--yes"], &only[..], &sets[..]].concat()));
    eprintln!("reproduce: {:.1} s", start.elapsed().as_secs_f64());
    let results = home.path().join("results/tf-kd-self-imagenet/paper");
    let table = std::fs::read_to_string(results.join("table.md")).unwrap_or_else(|e| panic!("{e}\n{t}"));
    // The paper's numbers, Tab. 8's normal KD in ResNet18's row, and the rows the selection did not run.
    assert!(table.contains("70.42 (+0.58)") && table.contains("70.40 (+0.56) [DenseNet121]"), "{table}");
    assert!(table.contains("| ResNeXt101 (32x8d) | not run |"), "{table}");
    let reg = std::fs::read_to_string(home.path().join("results/tf-kd-reg-imagenet/paper/table.md"))
        .unwrap_or_else(|e| panic!("{e}\n{t11}"));
    assert!(reg.contains("76.38 (+0.51) (printed; arithmetic +0.61)"), "{reg}");
    let reg_records = records(&home.path().join("results/tf-kd-reg-imagenet/paper/runs"));
    let records = records(&results.join("runs"));
    assert_eq!(records.len(), 3, "one run per entry and seed");
    assert_eq!(reg_records.len(), 3);
    let base =
        |rs: &[serde_json::Value]| rs.iter().find(|r| r["config"]["id"] == "base-resnet18").unwrap()["run_id"].clone();
    assert_eq!(base(&records), base(&reg_records), "the two targets share their ResNet18 baseline");
    for r in records.iter().chain(&reg_records) {
        eprintln!("{}: epoch {:.1} s", r["label"], r["metrics"][0]["seconds"].as_f64().unwrap_or(f64::NAN));
        // 12 training images of 3 classes, none carved for validation, 6 validation images as the test split.
        assert_eq!(r["split_sizes"], serde_json::json!([12, 0, 6]), "{}", r["label"]);
        assert_eq!(r["augment"]["ops"].as_array().unwrap().len(), 2, "RandomResizedCrop and flip: {}", r["augment"]);
        let acc = r["summary"]["best_test_acc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{}: {acc}", r["label"]);
    }
    for (id, arch) in [("self-resnet18", 0), ("kd-resnet18-from-densenet121", 1)] {
        let r = records.iter().find(|r| r["config"]["id"] == id).unwrap();
        assert_eq!(r["teacher_weights_sha256"], written[arch].1.as_str(), "{id} records its teacher file");
    }

    // The ResNet18 baseline as a torchvision state dict, loaded back strictly into torchvision's ResNet18.
    let base = records.iter().find(|r| r["config"]["id"] == "base-resnet18").unwrap();
    let run_id = base["run_id"].as_str().unwrap();
    let file = home.path().join("resnet18-student.pth");
    let t = ok(run(&["export", run_id, "--out", file.to_str().unwrap()]));
    assert!(t.contains("torchvision.resnet18"), "{t}");
    let mut vs = nn::VarStore::new(Device::Cpu);
    Network::build(&vs, Arch::Torchvision(Torchvision::ResNet18), ModelConfig::new(3)).unwrap();
    let report = torchvision::load_torchvision(&mut vs, &file).unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    let out = run(&["export", "not-a-run"]);
    assert!(!out.status.success() && text(&out).contains("is not a run id"), "{}", text(&out));
}
