//! Reports rendered from the committed quick-profile run records must not move: any change to the
//! aggregation, the verdicts, the rendering or the figures' data shows up here.

use std::path::{Path, PathBuf};

use tfkd_report::{build, load_dir, Metric};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

fn report(target: &str) -> tfkd_report::Report {
    let exp = tfkd_spec::load(&repo().join("experiments").join(format!("{target}.yaml")), "quick", &[]).unwrap();
    let dir = repo().join("results").join(target).join("quick");
    let records = load_dir(&dir.join("runs")).unwrap();
    let keep: Vec<String> = exp.runs.iter().map(|r| r.label()).collect();
    let records: Vec<_> = records.into_iter().filter(|r| keep.contains(&r.label)).collect();
    assert_eq!(records.len(), exp.runs.len(), "{target}: every planned run has a committed record");
    let curve = std::fs::read_to_string(dir.join("soft_targets.json")).ok().map(|t| serde_json::from_str(&t).unwrap());
    build(&exp, &records, Metric::BestTest, curve.as_ref()).unwrap()
}

fn check(target: &str) {
    let r = report(target);
    insta::assert_snapshot!(format!("{target}-table"), r.markdown);
    insta::assert_snapshot!(format!("{target}-csv"), r.csv);
    insta::assert_json_snapshot!(format!("{target}-figures"), r.figures);
    // The committed table.md is exactly what the committed records render to.
    let committed = std::fs::read_to_string(repo().join("results").join(target).join("quick/table.md")).unwrap();
    assert_eq!(committed, r.markdown, "{target}: results/{target}/quick/table.md is stale; run `tfkd report`");
}

#[test]
fn rekd_tiny_imagenet() {
    check("rekd-tiny-imagenet");
}

#[test]
fn rekd_cifar10() {
    check("rekd-cifar10");
}

#[test]
fn rekd_cifar100() {
    check("rekd-cifar100");
}

#[test]
fn dekd() {
    check("dekd");
}

#[test]
fn tf_kd_self_cifar100() {
    check("tf-kd-self-cifar100");
}

#[test]
fn tf_kd_reg_cifar100() {
    check("tf-kd-reg-cifar100");
    let r = report("tf-kd-reg-cifar100");
    assert!(
        r.figures.iter().any(|f| f.stem == "kd-vs-lsr"),
        "the KD ≈ LSR figure needs the committed soft_targets.json"
    );
}

/// The sensitivity sweep (no paper table): its summary table and the sweep figure's data.
#[test]
fn tf_kd_reg_sensitivity() {
    let target = "tf-kd-reg-sensitivity";
    let r = report(target);
    insta::assert_snapshot!(format!("{target}-table"), r.markdown);
    insta::assert_json_snapshot!(format!("{target}-figures"), r.figures);
    assert!(r.figures.iter().any(|f| f.stem.starts_with("sweep-")), "the sweep figure");
    let committed = std::fs::read_to_string(repo().join("results").join(target).join("quick/table.md")).unwrap();
    assert_eq!(committed, r.markdown, "results/{target}/quick/table.md is stale; run `tfkd report`");
}

/// The results index regenerates from the committed reports and records: what a reviewer opens first.
#[test]
fn results_index() {
    let root = repo().join("results");
    let aliases = [
        ("rekd-cifar10", "table1"),
        ("rekd-cifar100", "table2"),
        ("rekd-tiny-imagenet", "table3"),
        ("dekd", "table4"),
        ("tf-kd-self-cifar100", "table5"),
        ("tf-kd-reg-cifar100", "table6"),
    ];
    let entries: Vec<_> = aliases
        .iter()
        .filter_map(|(target, alias)| {
            tfkd_report::index::entry(&root.join(target).join("quick"), Some((*alias).to_string())).unwrap()
        })
        .collect();
    assert_eq!(entries.len(), 6, "every paper target has committed quick results");
    let md = tfkd_report::index::markdown(&entries);
    insta::assert_snapshot!("results-index", md);
    let committed = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(committed.starts_with(&md), "results/README.md is stale; run `tfkd report`");
}
