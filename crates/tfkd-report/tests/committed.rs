//! Reports rendered from the committed quick-profile run records must not move: any change to the
//! aggregation, the verdicts, the rendering or the figures' data shows up here. What the science depends on
//! is checked — numbers, verdicts, the data behind each figure — not when, where or at which commit the
//! runs were trained: regenerating a target with the same code and numerics leaves these tests green.

use std::path::{Path, PathBuf};

use tfkd_report::{build, load_dir, Metric};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// The report of `target`'s quick profile from the records under `results`.
fn report_from(results: &Path, target: &str) -> tfkd_report::Report {
    let exp = tfkd_spec::load(&repo().join("experiments").join(format!("{target}.yaml")), "quick", &[]).unwrap();
    let dir = results.join(target).join("quick");
    let (records, stale) = tfkd_report::record::current(&exp, load_dir(&dir.join("runs")).unwrap());
    assert!(stale.is_empty(), "{target}: records of settings the spec no longer has: {stale:?}");
    assert_eq!(records.len(), exp.runs.len(), "{target}: every planned run has a committed record");
    let curve = std::fs::read_to_string(dir.join("soft_targets.json")).ok().map(|t| serde_json::from_str(&t).unwrap());
    build(&exp, &records, Metric::BestTest, curve.as_ref()).unwrap()
}

fn report(target: &str) -> tfkd_report::Report {
    report_from(&repo().join("results"), target)
}

/// What a target's science is: its table, CSV and figure data, rendered from the records.
fn science(results: &Path, target: &str) -> String {
    let r = report_from(results, target);
    format!("{}\n{}\n{}", r.markdown, r.csv, serde_json::to_string_pretty(&r.figures).unwrap())
}

/// The lines of `b` that are not in `a`.
fn changed_lines(a: &str, b: &str) -> Vec<String> {
    b.lines().filter(|l| !a.lines().any(|x| x == *l)).map(str::to_string).collect()
}

/// The index entries of the paper targets under `results`; with `redact`, without the provenance columns
/// (commit, machine, date, estimate), which a regeneration changes without changing any number.
fn index_entries(results: &Path, redact: bool) -> Vec<tfkd_report::index::Entry> {
    let paper = tfkd_spec::paper::data().unwrap();
    let aliases: Vec<(String, String)> = paper
        .aliases
        .values()
        .flat_map(tfkd_spec::Targets::names)
        .map(|t| (t.clone(), paper.aliases_of(&t).join(", ")))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    aliases
        .iter()
        .filter_map(|(target, alias)| {
            let folder = tfkd_report::folders::Results::new(results).target(target, "quick");
            tfkd_report::index::entry(&folder, Some(alias.clone())).unwrap()
        })
        .map(|mut e| {
            if redact {
                e.commits = vec!["[commit]".into()];
                e.machines = vec!["[machine]".into()];
                e.date = "[date]".into();
                e.estimate = None;
            }
            e
        })
        .collect()
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
fn dekd_tiny_imagenet() {
    check("dekd-tiny-imagenet");
}

#[test]
fn tf_kd_self_tiny_imagenet() {
    check("tf-kd-self-tiny-imagenet");
}

#[test]
fn tf_kd_reg_tiny_imagenet() {
    check("tf-kd-reg-tiny-imagenet");
}

/// The claims ledger regenerates from the committed records into the committed `results/CLAIMS.md`.
#[test]
fn claims_ledger() {
    let paper = tfkd_spec::paper::data().unwrap();
    let spec_of = |name: &str| Some(repo().join("experiments").join(format!("{name}.yaml")));
    let targets = tfkd_report::ledger::collect(paper, &spec_of, &repo().join("results")).unwrap();
    assert_eq!(targets.len(), 11, "one per target of table1…table11");
    let md = tfkd_report::ledger::markdown(paper, &targets);
    insta::assert_snapshot!("claims-ledger", md);
    let committed = std::fs::read_to_string(repo().join("results/CLAIMS.md")).unwrap();
    assert_eq!(committed, md, "results/CLAIMS.md is stale; run `tfkd report`");
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
/// The snapshot holds what the science depends on (runs, verdict counts, figures, numerics); the committed
/// `results/README.md` must hold every row as the records say now (`reproduce` and `run` refresh it), whatever
/// other targets or profiles (a smoke run, say) it also lists.
#[test]
fn results_index() {
    let root = repo().join("results");
    let entries = index_entries(&root, true);
    assert_eq!(entries.len(), 9, "every paper target with a quick profile has committed quick results");
    insta::assert_snapshot!("results-index", tfkd_report::index::markdown(&entries));
    let committed = std::fs::read_to_string(root.join("README.md")).unwrap();
    let md = tfkd_report::index::markdown(&index_entries(&root, false));
    let stale = changed_lines(&committed, &md);
    assert!(
        stale.is_empty(),
        "results/README.md is stale (run `tfkd report`); rows that differ:\n{}",
        stale.join("\n")
    );
}

/// The checks above pass on regenerated results whose records differ only in provenance, and fail, naming
/// the row, when one number changes: a copy of a target's committed records with every time, commit and host
/// rewritten renders the same science and the same redacted index; one accuracy changed moves its row.
#[test]
fn checks_see_numbers_not_provenance() {
    let target = "rekd-tiny-imagenet";
    let copy = tempfile::tempdir().unwrap();
    let src = repo().join("results").join(target).join("quick");
    let dst = copy.path().join(target).join("quick");
    std::fs::create_dir_all(dst.join("runs")).unwrap();
    for file in std::fs::read_dir(&src).unwrap().flatten().filter(|f| f.path().is_file()) {
        std::fs::copy(file.path(), dst.join(file.file_name())).unwrap();
    }
    let records: Vec<PathBuf> = std::fs::read_dir(src.join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    let rewrite = |edit: &dyn Fn(&mut serde_json::Value)| {
        for path in &records {
            let mut r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            edit(&mut r);
            std::fs::write(dst.join("runs").join(path.file_name().unwrap()), r.to_string()).unwrap();
        }
    };
    rewrite(&|r| {
        let p = &mut r["provenance"];
        p["git_commit"] = "0123456789abcdef0123456789abcdef01234567".into();
        p["git_dirty"] = true.into();
        p["host"] = "elsewhere".into();
        p["started"] = "2031-01-01T00:00:00Z".into();
        p["finished"] = "2031-01-01T01:00:00Z".into();
        p["wall_seconds"] = 1234.5.into();
        p["cpu"] = "Another CPU".into();
    });
    let original = science(&repo().join("results"), target);
    assert_eq!(science(copy.path(), target), original, "provenance alone must not change the science");
    // The copy holds table3 alone; its redacted index row is the committed one.
    let row = |root: &Path| {
        let md = tfkd_report::index::markdown(&index_entries(root, true));
        md.lines().find(|l| l.starts_with("| table3 |")).map(str::to_string)
    };
    assert!(row(copy.path()).is_some());
    assert_eq!(row(copy.path()), row(&repo().join("results")));

    // One accuracy of one run changes: the science moves, on the row of that entry.
    rewrite(&|r| {
        if r["label"] == "rekd-resnet18-from-mobilenetv2@1" {
            r["summary"]["best_test_acc"] = 0.5.into();
        }
    });
    let changed = changed_lines(&original, &science(copy.path(), target));
    assert!(!changed.is_empty(), "a changed accuracy must change the science");
    assert!(
        changed.iter().any(|l| l.starts_with("| ResNet18 ↔ MobileNetV2 |")),
        "the table's diff names the row of the changed run: {changed:#?}"
    );
}

/// A record edited by hand to name another entry (its id, seed or method changed, its run id kept) is left out
/// as not this spec's run, instead of being counted in the other entry's row.
#[test]
fn a_record_edited_to_name_another_entry_is_left_out() {
    let exp = tfkd_spec::load(&repo().join("experiments/dekd.yaml"), "quick", &[]).unwrap();
    let runs = repo().join("results/dekd/quick/runs");
    let records = load_dir(&runs).unwrap();
    let n = records.len();
    let edits: [fn(&mut tfkd_report::RunRecord); 3] = [
        |r| r.config.id = "base-resnet18".into(),
        |r| r.config.seed += 1,
        |r| {
            r.config.method =
                tfkd_spec::method::Method::Kd { alpha: 0.9, temperature: 4.0, reduction: Default::default() }
        },
    ];
    for edit in edits {
        let mut records = load_dir(&runs).unwrap();
        let victim = records.iter().position(|r| r.config.id == "base-mobilenetv2").unwrap();
        edit(&mut records[victim]);
        let label = records[victim].label.clone();
        let (kept, stale) = tfkd_report::record::current(&exp, records);
        assert_eq!((kept.len(), stale), (n - 1, vec![label]));
    }
}
