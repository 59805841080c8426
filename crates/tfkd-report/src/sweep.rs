//! Sensitivity: the runs a spec's `sweep:` block expanded into, as a table and as a line figure of accuracy
//! (mean ± sd over seeds) against the first swept value, one line per value of the other keys.

use serde::Serialize;
use tfkd_spec::{Experiment, Sweep};

use crate::{
    aggregate::{Aggregate, Measure, MeasureKind},
    figure::{Figure, Kind, Series},
    record::Metric,
};

/// One combination of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// The entry id of the combination.
    pub id: String,
    /// The value of each swept key, as the spec wrote it.
    pub values: Vec<String>,
    /// The per-example soft-target weight of the combination's loss.
    pub soft_weight: Option<f64>,
    /// Accuracy (the table's metric, %).
    pub accuracy: Option<Measure>,
    /// Expected calibration error (%).
    pub ece: Option<Measure>,
    /// Mean top-1 confidence (%).
    pub confidence: Option<Measure>,
}

/// A sweep's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// The swept entry.
    pub base: String,
    /// The swept keys.
    pub keys: Vec<String>,
    /// One row per combination, in spec order.
    pub rows: Vec<SweepRow>,
    /// The target's other entries of the same model (the baseline, …), for reference.
    pub references: Vec<(String, Option<Measure>)>,
}

/// The sweep's rows from the aggregate, with the other entries of the same model as references.
#[must_use]
pub fn build(sweep: &Sweep, exp: &Experiment, agg: &Aggregate) -> SweepReport {
    let model = exp.runs.iter().find(|r| sweep.members.iter().any(|m| m.0 == r.id)).map(|r| r.model);
    let mut references: Vec<(String, Option<Measure>)> = Vec::new();
    for r in exp
        .runs
        .iter()
        .filter(|r| Some(r.model) == model && !exp.sweeps.iter().any(|s| s.members.iter().any(|m| m.0 == r.id)))
    {
        if !references.iter().any(|x| x.0 == r.id) {
            references.push((r.id.clone(), agg.measure(&r.id, MeasureKind::Value)));
        }
    }
    SweepReport {
        references,
        base: sweep.base.clone(),
        keys: sweep.keys.clone(),
        rows: sweep
            .members
            .iter()
            .map(|(id, values)| SweepRow {
                id: id.clone(),
                values: values.clone(),
                soft_weight: crate::table::soft_weight(exp, id),
                accuracy: agg.measure(id, MeasureKind::Value),
                ece: agg.measure(id, MeasureKind::Ece),
                confidence: agg.measure(id, MeasureKind::Confidence),
            })
            .collect(),
    }
}

fn cell(m: Option<Measure>) -> String {
    match m {
        Some(m) if m.n > 1 => format!("{:.2} ± {:.2} (n={})", m.mean, m.sd, m.n),
        Some(m) => format!("{:.2} (n=1)", m.mean),
        None => "not run".into(),
    }
}

/// The sweep as a Markdown section.
#[must_use]
pub fn markdown(s: &SweepReport) -> String {
    let mut out = format!("\n## Sensitivity of `{}` to {}\n\n", s.base, s.keys.join(" and "));
    out += &format!("| {} | Soft weight w | Accuracy (%) | ECE (%) | Confidence (%) |\n|", s.keys.join(" | "));
    out += &"---|".repeat(s.keys.len() + 4);
    out += "\n";
    for r in &s.rows {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            r.values.join(" | "),
            r.soft_weight.map_or_else(|| "—".to_string(), crate::render::weight),
            cell(r.accuracy),
            cell(r.ece),
            cell(r.confidence)
        );
    }
    out += &format!("\n{}\n", crate::render::WEIGHT_RULE);
    out
}

/// Accuracy against the swept key with the most values, one line per combination of the others, and the
/// reference entries as horizontal lines.
#[must_use]
pub fn figure(s: &SweepReport, exp: &Experiment, metric: Metric) -> Figure {
    let distinct = |k: usize| {
        let mut v: Vec<&String> = s.rows.iter().filter_map(|r| r.values.get(k)).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    let x = (0..s.keys.len()).max_by_key(|&k| distinct(k)).unwrap_or(0);
    let x_key = s.keys.get(x).cloned().unwrap_or_default();
    let mut fig = Figure::new(
        &format!("sweep-{}", s.base),
        format!("Sensitivity of {} to {}", s.base, x_key.rsplit('.').next().unwrap_or(&x_key)),
        Kind::Lines,
        &x_key,
        &match metric {
            Metric::BestTest => "best test accuracy (%), mean ± sd over seeds".to_string(),
            Metric::Last => "final test accuracy (%), mean ± sd over seeds".to_string(),
            Metric::TestAtBestVal => "test accuracy at best val (%), mean ± sd over seeds".to_string(),
        },
    );
    let mut lines: Vec<Series> = Vec::new();
    for r in &s.rows {
        let (Some(xv), Some(acc)) = (r.values.get(x).and_then(|v| v.parse::<f64>().ok()), r.accuracy) else { continue };
        let name = s
            .keys
            .iter()
            .zip(&r.values)
            .enumerate()
            .filter(|(k, _)| *k != x)
            .map(|(_, kv)| kv)
            .map(|(k, v)| format!("{} = {v}", k.rsplit('.').next().unwrap_or(k)))
            .collect::<Vec<_>>()
            .join(", ");
        let name = if name.is_empty() { s.base.clone() } else { name };
        match lines.iter_mut().find(|l| l.name == name) {
            Some(l) => l.points.push((xv, acc.mean, acc.sd)),
            None => lines.push(Series { name, points: vec![(xv, acc.mean, acc.sd)] }),
        }
    }
    for l in &mut lines {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let xs: Vec<f64> = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).collect();
    let (lo, hi) = xs.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    fig.log_x = lo > 0.0 && hi / lo >= 10.0;
    fig.series = lines;
    fig.hlines = s.references.iter().filter_map(|(id, m)| Some((id.clone(), m.as_ref()?.mean))).collect();
    fig.caption = Some(format!(
        "Target {}, profile {}: every point is the mean of its seeds; bars: ± one sample sd.",
        exp.name, exp.profile
    ));
    fig
}
