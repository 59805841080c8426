//! The report of any spec, with or without a paper table: every entry's accuracy over seeds, its soft-target
//! weight and calibration, and the claims the spec declares about its entries (its top-level `claims:`),
//! judged by [`crate::table::judge`], the judge of the paper's tables' claims too.

use std::borrow::Cow;

use serde::Serialize;
use tfkd_analysis::stats::Summary;
use tfkd_spec::Experiment;

use crate::{
    aggregate::Aggregate,
    csv::field,
    figure::{Figure, Kind, Series},
    record::Metric,
    render::{weight, VERDICT_RULE, WEIGHT_RULE},
    table::{calibration_rows, judge, CalibrationRow, ClaimReport},
    RunRecord,
};

/// One entry of the spec with what its runs measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryRow {
    /// Entry id.
    pub id: String,
    /// Its teacher entry or file, if any.
    pub teacher: Option<String>,
    /// Our (seed, accuracy %) values.
    pub values: Vec<(u64, f64)>,
    /// Their mean ± sample sd.
    pub ours: Option<Summary>,
    /// Model, method, soft-target weight and calibration measures.
    pub calibration: CalibrationRow,
}

/// The entries of a target and the claims its spec declares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntriesReport {
    /// Target name.
    pub target: String,
    /// Title.
    pub title: String,
    /// Profile.
    pub profile: String,
    /// Entries with records, in spec order.
    pub entries: Vec<EntryRow>,
    /// The spec's claims about its entries, judged.
    pub claims: Vec<ClaimReport>,
}

/// Builds the entries report of `exp` from the aggregate of its records.
#[must_use]
pub fn build(exp: &Experiment, agg: &Aggregate, records: &[RunRecord]) -> EntriesReport {
    let values = |id: &str| agg.values.get(id).cloned().unwrap_or_default();
    let entries = calibration_rows(exp, agg, records)
        .into_iter()
        .map(|calibration| {
            let run = exp.runs.iter().find(|r| r.id == calibration.id);
            let teacher = run.and_then(|r| {
                r.teacher.clone().or_else(|| r.teacher_weights.as_ref().map(|w| w.file_name().to_string()))
            });
            let values = values(&calibration.id);
            let ours = Summary::of(&values.iter().map(|v| v.1).collect::<Vec<_>>());
            EntryRow { id: calibration.id.clone(), teacher, values, ours, calibration }
        })
        .collect();
    let claims = exp.claims.iter().map(|c| judge(c, &values(&c.a), &values(&c.b), None)).collect();
    EntriesReport { target: exp.name.clone(), title: exp.title.clone(), profile: exp.profile.clone(), entries, claims }
}

/// A verdict in words, against the claim's expected effect (not a paper's).
fn verdict_text(c: &ClaimReport) -> String {
    match (c.verdict, c.diff, c.ci95) {
        (Some(v), Some(d), ci) => {
            let ci = ci.map_or(String::new(), |(lo, hi)| format!(", 95% CI [{lo:.2}, {hi:.2}]"));
            let mde = c.mde.map_or(String::new(), |m| format!(", MDE {m:.2}"));
            format!("**{}** (A − B {:+.2}{ci}{mde}, n={})", v.describe().replace("paper's", "expected"), d.mean, d.n)
        }
        _ => "not run in this profile".into(),
    }
}

/// The entries and claims as Markdown: the whole `table.md` of a spec without a paper table, or the section
/// after the paper table of one with both.
#[must_use]
pub fn markdown(r: &EntriesReport, metric: Metric) -> String {
    let mut out = format!(
        "\n## Entries\n\n{}, mean ± sample sd over n seeds; w: the per-example soft-target weight.\n\n\
         | Entry | Model | Method | Teacher | w | Accuracy (%) | n |\n|---|---|---|---|---|---|---|\n",
        metric.describe()
    );
    for e in &r.entries {
        let c = &e.calibration;
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            e.id,
            c.model,
            c.method,
            e.teacher.as_deref().unwrap_or("—"),
            c.soft_weight.map_or_else(|| "—".to_string(), weight),
            e.ours.map_or_else(|| "—".to_string(), |s| format!("{:.2} ± {:.2}", s.mean, s.sd)),
            e.values.len()
        );
    }
    if !r.claims.is_empty() {
        out += "\n## Claims\n\n| Claim | A | B | Expected A − B | Verdict |\n|---|---|---|---|---|\n";
        for c in &r.claims {
            let expected = c.expected.map_or_else(|| "—".to_string(), |e| format!("{e:+.2}"));
            out += &format!("| {} | {} | {} | {expected} | {} |\n", c.claim, c.a, c.b, verdict_text(c));
        }
        out += &format!("\n{VERDICT_RULE}\n");
    }
    out += &format!("\n{WEIGHT_RULE}\n");
    out
}

/// The entries as CSV: one line per entry.
#[must_use]
pub fn csv(r: &EntriesReport) -> String {
    let mut out = String::from("entry,model,method,teacher,soft_weight,n,mean,sd\n");
    for e in &r.entries {
        let c = &e.calibration;
        let (mean, sd) = e.ours.map_or((String::new(), String::new()), |s| (s.mean.to_string(), s.sd.to_string()));
        let teacher = e.teacher.as_deref().map_or(Cow::Borrowed(""), field);
        out += &format!(
            "{},{},{},{teacher},{},{},{mean},{sd}\n",
            field(&e.id),
            field(&c.model),
            field(&c.method),
            c.soft_weight.map_or(String::new(), |w| w.to_string()),
            e.values.len()
        );
    }
    out
}

/// The entries as a LaTeX tabular.
#[must_use]
pub fn tex(r: &EntriesReport) -> String {
    let esc = |s: &str| s.replace('_', "\\_").replace('%', "\\%").replace('&', "\\&").replace('#', "\\#");
    let mut out =
        String::from("\\begin{tabular}{lllr}\n\\hline\nEntry & Model & Method & Accuracy (\\%) \\\\\n\\hline\n");
    for e in &r.entries {
        let acc = e.ours.map_or_else(|| "--".to_string(), |s| format!("{:.2} $\\pm$ {:.2}", s.mean, s.sd));
        out +=
            &format!("{} & {} & {} & {acc} \\\\\n", esc(&e.id), esc(&e.calibration.model), esc(&e.calibration.method));
    }
    out + "\\hline\n\\end{tabular}\n"
}

/// The figures: every entry's accuracy as a bar (mean ± sd), the claims' verdicts, and the calibration figures.
#[must_use]
pub fn figures(r: &EntriesReport, records: &[RunRecord], metric: Metric) -> Vec<Figure> {
    // One line per entry with its name beside it (intervals): bars could not hold a dozen long entry ids.
    let mut bars = Figure::new(
        "entries",
        format!("Every entry of {}", r.target),
        Kind::Intervals,
        "accuracy (%): mean and ± one sample sd over seeds",
        "",
    );
    let run: Vec<&EntryRow> = r.entries.iter().filter(|e| e.ours.is_some()).collect();
    bars.categories = run.iter().map(|e| e.id.clone()).collect();
    bars.series = vec![Series {
        name: "ours".into(),
        points: run.iter().enumerate().filter_map(|(i, e)| e.ours.map(|s| (i as f64, s.mean, s.sd))).collect(),
    }];
    bars.caption = Some(format!("Target {}, profile {}: mean ± sample sd over seeds.", r.target, r.profile));
    let mut out = vec![bars];
    let claims: Vec<(String, &ClaimReport)> = r.claims.iter().map(|c| (c.claim.clone(), c)).collect();
    out.extend(crate::figures::verdict_figure(&r.title, &r.target, &r.profile, &claims).map(|mut fig| {
        fig.x_label = "A − B (accuracy points): mean and 95% interval".into();
        fig
    }));
    out.extend(crate::figures::reliability(records, metric));
    out.extend(crate::figures::confidence(records, metric));
    out
}
