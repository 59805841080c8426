//! The claims ledger (`results/CLAIMS.md`): every claim the paper makes with a number — each row's claims of
//! each of its tables, as the targets declare them — with the paper's effect, its table and runs per cell, and
//! tfkd's evidence for it per profile (Δ, 95% CI, MDE, verdict) or "not run". One page on which a reviewer sees
//! what is tested, where, and how strongly.

use std::collections::BTreeMap;

use tfkd_spec::{PaperFile, Printed};

use crate::{
    aggregate::aggregate,
    render::paper_runs,
    table::{self, ClaimReport, TableReport},
    Metric, ReportError,
};

/// The profiles the ledger has a column for, in order; the smoke profile proves nothing and has none.
pub const PROFILES: [&str; 4] = ["quick", "overnight", "gpu", "paper"];

/// One target of the ledger: its paper table (from the spec, no runs) and its reports per profile.
#[derive(Debug, Clone)]
pub struct LedgerTarget {
    /// The aliases that name it (`table7, table8`).
    pub aliases: String,
    /// The table as the spec declares it, built without records: rows, claims and the paper's effects.
    pub declared: TableReport,
    /// Its reports per profile with records.
    pub reports: BTreeMap<String, TableReport>,
}

/// The ledger's targets in the paper's table order (`table1`, `table2`, …), each with its declared table and
/// its reports per profile, rebuilt from the records under `results` as `tfkd report` builds them (records
/// whose settings the spec no longer has are left out). `spec_of` finds a target's spec file.
///
/// # Errors
/// A spec that does not resolve, or records that cannot be read or aggregated.
pub fn collect(
    paper: &PaperFile,
    spec_of: &dyn Fn(&str) -> Option<std::path::PathBuf>,
    results: &std::path::Path,
) -> Result<Vec<LedgerTarget>, ReportError> {
    let mut seen = std::collections::BTreeSet::new();
    let names = (1..).map_while(|n| paper.aliases.get(&format!("table{n}"))).flat_map(tfkd_spec::Targets::names);
    let load = |path: &std::path::Path, profile: &str| {
        tfkd_spec::load(path, profile, &[]).map_err(|e| ReportError::Spec(e.to_string()))
    };
    let mut targets = Vec::new();
    for name in names.filter(|n| seen.insert(n.clone())) {
        let Some(path) = spec_of(&name) else { continue };
        let exp = load(&path, "paper")?;
        let Some(declared) = &exp.paper else { continue };
        let declared = table::build(&exp, declared, &aggregate(&[], Metric::BestTest)?, &[]);
        let mut reports = BTreeMap::new();
        for profile in PROFILES.iter().filter(|p| exp.profiles.iter().any(|q| q == *p)) {
            let exp = load(&path, profile)?;
            let runs = crate::folders::Results::new(results).target(&exp.name, profile).runs();
            let Some(paper_table) = exp.paper.as_ref().filter(|_| runs.is_dir()) else { continue };
            let (records, _) = crate::record::current(&exp, crate::load_dir(&runs)?);
            let agg = aggregate(&records, Metric::BestTest)?;
            reports.insert((*profile).to_string(), table::build(&exp, paper_table, &agg, &records));
        }
        targets.push(LedgerTarget { aliases: paper.aliases_of(&name).join(", "), declared, reports });
    }
    Ok(targets)
}

/// The seed-to-seed sds the paper prints for a trained model in its tables of stated or inferred 3-run
/// cells, by model name, e.g. "MobileNetV2" → [0.16, 0.13, …].
#[must_use]
pub fn paper_spreads(paper: &PaperFile) -> BTreeMap<String, Vec<f64>> {
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for block in paper.tables.iter().filter(|b| b.runs == Some(3)) {
        for row in &block.rows {
            for (col, cell) in &row.cells {
                let (Some(sd), Some(model)) = (Printed::parse(cell).and_then(|p| p.sd), trained_model(&row.label, col))
                else {
                    continue;
                };
                out.entry(model).or_default().push(sd);
            }
        }
    }
    out
}

/// The model a cell of a row trains: the label's left model for Re-KD (the teacher is the one trained),
/// the right one for normal KD and De-KD, the row's model for the Tf-KD tables.
fn trained_model(label: &str, column: &str) -> Option<String> {
    let bare = |s: &str| s.split(" (").next().unwrap_or(s).trim().to_string();
    let pair = label.split_once('↔').or_else(|| label.split_once('→'));
    match (pair, column) {
        (Some((left, _)), "re_kd" | "teacher_baseline") => Some(bare(left)),
        (Some((_, right)), "normal_kd" | "de_kd" | "student_baseline") => Some(bare(right)),
        (None, _) => Some(bare(label)),
        _ => None,
    }
}

fn signed(x: f64) -> String {
    format!("{}{x:.2}", if x >= 0.0 { "+" } else { "" })
}

/// One profile's evidence for a claim, in a cell.
fn evidence(c: &ClaimReport) -> String {
    match (c.verdict, c.diff, c.ci95) {
        (Some(v), Some(d), Some((lo, hi))) => {
            let mde = c.mde.map_or(String::new(), |m| format!(", MDE {m:.2}"));
            format!("**{}** Δ {} [{lo:.2}, {hi:.2}]{mde}, n={}", v.as_str(), signed(d.mean), d.n)
        }
        (Some(v), Some(d), None) => format!("**{}** Δ {}, n={}", v.as_str(), signed(d.mean), d.n),
        _ => "not run".into(),
    }
}

/// The paper's effect of a claim with its runs per cell, and for a single-run cell the paper's own 3-run spread
/// of the model it trains (tfkd's reading, labelled as such).
fn paper_effect(t: &TableReport, row: &str, c: &ClaimReport, spreads: &BTreeMap<String, Vec<f64>>) -> String {
    let Some(e) = c.paper_effect else { return "—".into() };
    let mut out = signed(e);
    if t.paper_runs == Some(1) {
        let model = trained_model(row, &c.a);
        match model.as_ref().and_then(|m| Some((m, spreads.get(m)?))) {
            Some((m, sds)) => {
                let lo = sds.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = sds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                out += &format!(" (1 run; the paper's 3-run sd of {m}: {lo:.2}–{hi:.2})");
            }
            None => out += " (1 run)",
        }
    }
    out
}

/// The ledger as Markdown.
#[must_use]
pub fn markdown(paper: &PaperFile, targets: &[LedgerTarget]) -> String {
    let spreads = paper_spreads(paper);
    let all: Vec<f64> = spreads.values().flatten().copied().collect();
    let (lo, hi) = (all.iter().copied().fold(f64::INFINITY, f64::min), all.iter().copied().fold(0.0, f64::max));
    let mut out = String::from("# Claims ledger\n\n");
    out += "Every claim the paper makes with a number — each claim of each row of its tables, as the targets declare \
            them — with the paper's effect (A − B, as printed), the table it is in and the runs behind its cells, and \
            tfkd's evidence for it per profile: the paired difference Δ over seeds, its 95% interval, the minimum \
            detectable effect (MDE) and the verdict (the rule is in every table's report), on the best test accuracy \
            over epochs (the official code's protocol). *underpowered*: the MDE \
            exceeds the paper's effect, so the runs could not have seen it. Profiles that substitute a dataset test \
            the claim on other data at another scale: read their verdicts as evidence about the claim's direction \
            there, not as a rerun of the paper. Regenerated by `tfkd report` and `tfkd reproduce` from the records \
            under results/.\n\n";
    out += &format!(
        "A reading of the paper's own evidence (tfkd's, not the paper's): cells of a single run carry the seed-to-seed spread of one \
         run. Where the paper prints 3-run means (Tabs. 1 and 2, and Tab. 4's CIFAR-100 block), its sds range \
         {lo:.2}–{hi:.2}; a single-run gain beside the sd the paper prints for the same model shows how much of \
         it one rerun could move.\n\n"
    );
    out += &summary(targets);
    for t in targets {
        out += &section(t, &spreads);
    }
    out
}

/// Verdict counts per profile.
fn summary(targets: &[LedgerTarget]) -> String {
    let mut out = String::from("| Profile | Claims run | Holds | Not significant | Underpowered | Contradicted |\n");
    out += "|---|---|---|---|---|---|\n";
    for p in PROFILES {
        let mut counts = BTreeMap::new();
        for c in targets.iter().filter_map(|t| t.reports.get(p)).flat_map(|r| &r.rows).flat_map(|r| &r.claims) {
            if let Some(v) = c.verdict {
                *counts.entry(v.as_str()).or_insert(0) += 1;
            }
        }
        let n: usize = counts.values().sum();
        let get = |k| counts.get(k).copied().unwrap_or(0);
        out += &format!(
            "| {p} | {n} | {} | {} | {} | {} |\n",
            get("holds"),
            get("not significant"),
            get("underpowered"),
            get("contradicted")
        );
    }
    let total: usize = targets.iter().flat_map(|t| &t.declared.rows).map(|r| r.claims.len()).sum();
    out + &format!("\n{total} claims in all.\n")
}

/// One target's table of claims.
fn section(t: &LedgerTarget, spreads: &BTreeMap<String, Vec<f64>>) -> String {
    let d = &t.declared;
    let tab = d.paper_table.map_or(String::new(), |n| format!("Tab. {n} — "));
    let mut out = format!(
        "\n## {tab}{} ({})\n\n`{}` → [{}]({}/): {}; {}.\n\n",
        d.paper_caption,
        d.paper_dataset,
        t.aliases,
        d.target,
        d.target,
        d.paper_source,
        paper_runs(d.paper_runs, d.paper_runs_basis.as_deref())
    );
    out += "| Row | Claim | Paper |";
    for p in PROFILES {
        out += &format!(" {p} |");
    }
    out += "\n|---|---|---|";
    out += &"---|".repeat(PROFILES.len());
    out += "\n";
    for (i, row) in d.rows.iter().enumerate() {
        for (j, c) in row.claims.iter().enumerate() {
            let mut effect = paper_effect(d, &row.label, c, spreads);
            let printed = row.cells.iter().find(|cell| cell.column == c.a && cell.paper_gain.is_some());
            if let Some((g, a)) =
                printed.and_then(|cell| Some((cell.paper.as_ref()?.gain?, cell.paper_gain_arithmetic?)))
            {
                if (g - a).abs() > 0.005 && c.b == crate::table::reference(d.layout, &c.a).unwrap_or_default() {
                    effect += &format!(" (printed; arithmetic {})", signed(a));
                }
            }
            out += &format!("| {} | {} | {effect} |", row.label, c.claim);
            for p in PROFILES {
                let ours = t.reports.get(p).and_then(|r| r.rows.get(i)).and_then(|r| r.claims.get(j));
                out += &format!(" {} |", ours.map_or("not run".into(), evidence));
            }
            out += "\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_a_cell_trains() {
        assert_eq!(trained_model("ResNet50 ↔ ShuffleNetV2", "re_kd").as_deref(), Some("ResNet50"));
        assert_eq!(trained_model("ResNet50 ↔ ShuffleNetV2", "normal_kd").as_deref(), Some("ShuffleNetV2"));
        assert_eq!(trained_model("ResNet18 (1 epoch) → MobileNetV2", "de_kd").as_deref(), Some("MobileNetV2"));
        assert_eq!(trained_model("ResNeXt29 (8x64d)", "tf_kd_self").as_deref(), Some("ResNeXt29"));
    }

    #[test]
    fn the_paper_prints_its_spreads_in_its_three_run_tables() {
        let spreads = paper_spreads(tfkd_spec::paper::data().unwrap());
        // MobileNetV2 trained: Tab. 1 normal KD 0.16, 0.20, 0.23, 0.41; Tab. 2 normal KD 0.14 and Re-KD (taught by
        // the Plain CNN) 0.23; Tab. 4's CIFAR-100 De-KD 0.35, 0.23, 0.27.
        let mut m = spreads["MobileNetV2"].clone();
        m.sort_by(f64::total_cmp);
        assert_eq!(m, [0.14, 0.16, 0.20, 0.23, 0.23, 0.23, 0.27, 0.35, 0.41]);
        let all: Vec<f64> = spreads.values().flatten().copied().collect();
        assert_eq!(all.iter().copied().fold(f64::INFINITY, f64::min), 0.05);
        assert_eq!(all.iter().copied().fold(0.0, f64::max), 0.41);
    }
}
