//! The reading of the committed results in docs/results.md (the guide the README points to) quotes only numbers
//! the results hold: every decimal number in its sections "What the quick profile says" and "What the overnight
//! profile says" must be a value of the `report.json` of that profile of a target its bullet names (as a table
//! alias `tableN`, each of its targets that has results, or a target name in backticks), at the precision it is
//! quoted with.
//! Numbers written after "=" are settings (α = 0.95), not results, and are not checked.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// The guide the quoted numbers are read from.
const GUIDE: &str = "docs/results.md";

/// The section of the guide under `heading`, up to the next heading.
fn section(readme: &str, heading: &str) -> String {
    let start = readme.find(heading).unwrap_or_else(|| panic!("{GUIDE} has no section {heading:?}"));
    let body = &readme[start + heading.len()..];
    let end = body.find("\n#").unwrap_or(body.len());
    body[..end].to_string()
}

/// The bullets of a section (lines starting with "- " and their continuation lines).
fn bullets(section: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in section.lines() {
        if let Some(rest) = line.strip_prefix("- ") {
            out.push(rest.to_string());
        } else if line.starts_with("  ") && !out.is_empty() {
            let last = out.last_mut().unwrap();
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    out
}

/// Every decimal number quoted as a result: (text as written without sign, digits after the point).
fn quoted(text: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.'));
        if !starts {
            i += 1;
            continue;
        }
        let begin = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let token: String = chars[begin..i].iter().collect::<String>().trim_end_matches('.').to_string();
        let before: String = chars[begin.saturating_sub(2)..begin].iter().collect();
        let setting = before.ends_with("= ") || before.ends_with('=');
        if let Some((_, decimals)) = token.split_once('.') {
            if !setting {
                out.push((token.clone(), decimals.len()));
            }
        }
    }
    out
}

/// Every number in a JSON value.
fn numbers(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Number(n) => out.extend(n.as_f64()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| numbers(x, out)),
        _ => {}
    }
}

/// Checks the guide's quoted numbers; returns how many were checked, or what is wrong.
fn check(readme: &str) -> Result<usize, String> {
    Ok(check_section(readme, "### What the quick profile says (and what it cannot)", "quick", 6)?
        + check_section(readme, "### What the overnight profile says", "overnight", 3)?)
}

/// Checks the bullets of one section (at least `min_bullets`) against the `profile` reports.
fn check_section(readme: &str, heading: &str, profile: &str, min_bullets: usize) -> Result<usize, String> {
    let aliases: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("experiments/paper.yaml")).unwrap()).unwrap();
    let aliases = aliases["aliases"].as_mapping().unwrap().clone();
    let targets: Vec<String> = std::fs::read_dir(repo().join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| repo().join("results").join(n).join("quick/report.json").is_file())
        .collect();
    let bullets = bullets(&section(readme, heading));
    if bullets.len() < min_bullets {
        return Err(format!("expected the section's bullets: {bullets:#?}"));
    }
    let mut checked = 0;
    for bullet in &bullets {
        let mut named: Vec<String> = targets.iter().filter(|t| bullet.contains(&format!("`{t}`"))).cloned().collect();
        for (alias, target) in &aliases {
            if names_alias(bullet, alias.as_str().unwrap()) {
                // An alias may stand for several targets (table4: two dataset blocks); those with results count.
                let all: Vec<String> = match target.as_sequence() {
                    Some(seq) => seq.iter().map(|t| t.as_str().unwrap().to_string()).collect(),
                    None => vec![target.as_str().unwrap().to_string()],
                };
                named.extend(all.into_iter().filter(|t| targets.contains(t)));
            }
        }
        if named.is_empty() {
            return Err(format!("a bullet must name the targets its numbers come from: {bullet}"));
        }
        let mut values = Vec::new();
        for t in &named {
            // A bullet may cite the paper's number of another target, recorded in that target's quick report.
            let own = repo().join("results").join(t).join(profile).join("report.json");
            let path = if own.is_file() { own } else { repo().join("results").join(t).join("quick/report.json") };
            let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            numbers(&report, &mut values);
        }
        for (token, decimals) in quoted(bullet) {
            if !values.iter().any(|v| format!("{:.decimals$}", v.abs()) == token) {
                return Err(format!(
                    "{GUIDE} quotes {token}, which no report of {named:?} holds at that precision: {bullet}"
                ));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

/// Whether `text` names the alias `alias` (table1 is not named by table10).
fn names_alias(text: &str, alias: &str) -> bool {
    text.match_indices(alias).any(|(i, _)| !text[i + alias.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[test]
fn readme_quotes_only_numbers_the_results_hold() {
    let readme = std::fs::read_to_string(repo().join(GUIDE)).unwrap();
    let checked = check(&readme).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked >= 40, "only {checked} numbers checked");
}

#[test]
fn the_number_check_can_fail() {
    assert_eq!(
        quoted("Δ −0.93 and +1.41 (α = 0.95, MDE 3.76)"),
        vec![("0.93".into(), 2), ("1.41".into(), 2), ("3.76".into(), 2)]
    );
    assert!(quoted("resnet18 width 1/8, ln 10 = 2.30").is_empty());
    assert!(names_alias("table1 `rekd-cifar100`", "table1") && !names_alias("table10", "table1"));
    // One quoted result changed in the guide's own text: the check names it.
    let readme = std::fs::read_to_string(repo().join(GUIDE)).unwrap();
    let wrong = readme.replacen("MDE 16.88", "MDE 16.89", 1);
    assert_ne!(wrong, readme);
    let err = check(&wrong).unwrap_err();
    assert!(err.contains("16.89") && err.contains("dekd"), "{err}");
}

/// The front page's "What the ledger says today" quotes only numbers of the committed ledger: each number in
/// that section must stand in `results/CLAIMS.md` as written.
#[test]
fn the_front_page_quotes_the_ledger() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let heading = "## What the ledger says today";
    let start = readme.find(heading).expect("README has the ledger section");
    let body = &readme[start + heading.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let ledger = std::fs::read_to_string(repo().join("results/CLAIMS.md")).unwrap();
    let tokens = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == '−'))
            .map(|t| t.trim_matches(|c| c == '.' || c == '-' || c == '+' || c == '−').to_string())
            .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
            .collect()
    };
    let held = tokens(&ledger);
    let quoted: Vec<String> = tokens(body).into_iter().filter(|t| !t.starts_with("table") && t.len() > 1).collect();
    assert!(quoted.len() >= 5, "the section quotes the ledger: {body}");
    for t in &quoted {
        assert!(held.contains(t), "README's ledger section quotes {t}, which results/CLAIMS.md does not hold");
    }
}
