//! The paper as printed: its numbers are transcribed once (experiments/paper.yaml), every spec that mirrors a
//! paper table takes them from there, every table and block of the paper has a target, every alias names the
//! target that mirrors its table, docs/paper.md prints the same numbers, and every "docs/paper.md §N" cited
//! anywhere in the repository exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tfkd_spec::{load, paper, Printed};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// Every spec under experiments/ that names a target (shared defaults and the paper file excluded).
fn specs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| std::fs::read_to_string(p).unwrap().lines().any(|l| l.starts_with("name:")))
        .collect();
    v.sort();
    v
}

#[test]
fn every_paper_block_has_one_target_and_every_alias_names_it() {
    let data = paper::data().unwrap();
    let mut covered = BTreeSet::new();
    let mut by_target = std::collections::BTreeMap::new();
    for spec in specs() {
        let exp = load(&spec, "paper", &[]).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
        let Some(table) = &exp.paper else { continue };
        let n = table.table.unwrap_or_else(|| panic!("{}: a paper section names its table", spec.display()));
        assert!(table.numbers_retrieved && table.source.contains("of the CVPR 2020 paper"), "{}", spec.display());
        assert!(covered.insert((n, table.dataset.clone())), "Tab. {n} ({}) has two targets", table.dataset);
        let mut tables: Vec<u32> = vec![n];
        tables.extend(table.rows.iter().flat_map(|r| r.cells.values().filter_map(|c| c.from)));
        by_target.insert(exp.name.clone(), tables);
        // Every cell's paper number is the file's, verbatim.
        let block = data.block(n, &table.dataset).unwrap();
        for (row, printed) in table.rows.iter().zip(&block.rows) {
            for (col, cell) in &row.cells {
                let want = match cell.from {
                    None => printed.cells.get(col),
                    Some(other) => data
                        .block(other, &block.dataset)
                        .unwrap()
                        .rows
                        .iter()
                        .find(|r| r.label == row.label)
                        .and_then(|r| r.cells.get(col)),
                };
                assert_eq!(cell.paper.as_ref(), want, "{} {} {col}", exp.name, row.label);
            }
        }
    }
    let blocks: BTreeSet<(u32, String)> = data.tables.iter().map(|t| (t.table, t.dataset.clone())).collect();
    let missing: Vec<_> = blocks.iter().filter(|b| !covered.contains(b) && b.0 != 8).collect();
    assert!(missing.is_empty(), "paper blocks without a target: {missing:?}");
    for n in 1..=11 {
        let targets = data.aliases[&format!("table{n}")].names();
        assert!(
            targets.iter().all(|t| by_target.get(t).is_some_and(|tables| tables.contains(&n))),
            "table{n} → {targets:?}, but not every one mirrors Tab. {n}"
        );
    }
}

#[test]
fn a_spec_cannot_carry_its_own_paper_numbers_or_drop_a_row() {
    let base = std::fs::read_to_string(repo().join("experiments/rekd-tiny-imagenet.yaml")).unwrap();
    let dir = std::env::temp_dir().join(format!("tfkd-paper-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(repo().join("experiments/defaults.yaml"), dir.join("defaults.yaml")).unwrap();
    let load_text = |text: &str| {
        let file = dir.join("spec.yaml");
        std::fs::write(&file, text).unwrap();
        load(&file, "quick", &[])
    };
    assert!(load_text(&base).is_ok());
    let own = base.replacen(
        "teacher_baseline: { run: base-resnet18 }",
        "teacher_baseline: { run: base-resnet18, paper: \"99.0\" }",
        1,
    );
    let err = load_text(&own).unwrap_err().to_string();
    assert!(err.contains("come from experiments/paper.yaml"), "{err}");
    let cut = base.replace("    - label: ResNet50 ↔ ResNet18\n", "    - label: ResNet50 ↔ ResNet34\n");
    let err = load_text(&cut).unwrap_err().to_string();
    assert!(err.contains("must be Tab. 3's rows in the paper's order"), "{err}");
    let four = base.replace("table: 3", "table: 4");
    let err = load_text(&four).unwrap_err().to_string();
    assert!(err.contains("Tab. 4 has no block on") || err.contains("its blocks"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The numbers of a text: "56.70", "+1.64", "-0.04".
fn numbers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|t| t.contains('.') && t.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|t| t.trim_end_matches('.').to_string())
        .collect()
}

#[test]
fn docs_paper_md_prints_the_same_numbers() {
    let doc = std::fs::read_to_string(repo().join("docs/paper.md")).unwrap();
    for block in &paper::data().unwrap().tables {
        let heading = format!("\n### {} ", block.section);
        let start = doc.find(&heading).unwrap_or_else(|| panic!("docs/paper.md has no §{}", block.section));
        let body = &doc[start + heading.len()..];
        let body = &body[..body.find("\n### ").or_else(|| body.find("\n## ")).unwrap_or(body.len())];
        assert!(
            body.contains(&format!("Tab. {}", block.table)),
            "§{} is not about Tab. {}",
            block.section,
            block.table
        );
        let printed = numbers(body);
        for row in &block.rows {
            for (col, cell) in &row.cells {
                let p = Printed::parse(cell).unwrap();
                for x in [p.mean, p.sd, p.gain.map(f64::abs)].into_iter().flatten() {
                    let s = format!("{x:.2}");
                    assert!(
                        printed.contains(&s),
                        "docs/paper.md §{} lacks {s} (Tab. {} {} {col})",
                        block.section,
                        block.table,
                        row.label
                    );
                }
            }
        }
    }
}

/// Every "docs/paper.md §N" (and "§N" in docs/paper.md itself) names a heading that exists.
#[test]
fn every_cited_section_of_docs_paper_md_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/paper.md")).unwrap();
    let headings: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_string())
        .collect();
    let mut files = vec![repo().join("README.md"), repo().join("docs/paper.md")];
    for dir in ["experiments", "docs", "crates", "scripts"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() && !p.ends_with("target") && !p.ends_with("fixtures") {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| ["rs", "yaml", "md", "sh", "py"].contains(&x.to_str().unwrap()))
                {
                    files.push(p);
                }
            }
        }
    }
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let own = f.ends_with("docs/paper.md");
        for (i, _) in text.match_indices("§") {
            let before = &text[..i];
            if !own && !before.ends_with("docs/paper.md ") && !before.ends_with("paper.md ") {
                continue;
            }
            let n: String =
                text[i + '§'.len_utf8()..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let n = n.trim_end_matches('.');
            if n.is_empty() {
                continue;
            }
            assert!(headings.contains(n), "{} cites docs/paper.md §{n}, which does not exist", f.display());
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} citations found");
}

/// `fig2`, `fig3` and `fig4` name targets whose reports draw them: De-KD's (students of teacher snapshots),
/// Tf-KD_reg's (the virtual teacher) and Tf-KD_self's (MobileNetV2 over epochs); the paper's values are transcribed.
#[test]
fn figure_aliases_name_the_targets_that_draw_them() {
    let data = paper::data().unwrap();
    let figures = [
        ("fig2", tfkd_spec::Layout::DeKd, 2),
        ("fig3", tfkd_spec::Layout::TfReg, 3),
        ("fig4", tfkd_spec::Layout::TfSelf, 4),
    ];
    for (alias, layout, figure) in figures {
        let target = &data.figure_aliases[alias];
        let exp = load(&repo().join("experiments").join(format!("{target}.yaml")), "quick", &[]).unwrap();
        assert_eq!(exp.paper.as_ref().and_then(|p| p.layout), Some(layout), "{alias} → {target}");
        assert!(data.figure(figure).is_some_and(|f| !f.series.is_empty()), "Fig. {figure} transcribed");
    }
    let fig4 = data.figure(4).unwrap();
    assert!(fig4.series.iter().all(|s| s.x.last() == Some(&200.0)), "Fig. 4 spans the 200 epochs");
}
