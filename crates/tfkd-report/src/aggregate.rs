//! polars aggregation of run records: the long run table (one row per run), grouped by entry over seeds
//! (mean, sample sd, n of every measure), and the paper's cells joined onto it.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::{record::Metric, ReportError, RunRecord};

/// A measure of a run at the epoch the table's accuracy is taken from: the accuracy (%) first, then
/// calibration and confidence (absent in records from before they were measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureKind {
    /// The table's accuracy (%).
    Value,
    /// Test negative log-likelihood.
    Nll,
    /// Expected calibration error (%).
    Ece,
    /// Mean top-1 confidence (%).
    Confidence,
    /// Mean predictive entropy (nats).
    Entropy,
    /// Top-1 agreement with the teacher (%).
    TeacherAgreement,
    /// KL(teacher ‖ student) on the test set.
    TeacherKl,
}

impl MeasureKind {
    /// Every measure, in the order tables list them.
    pub const ALL: [MeasureKind; 7] = [
        MeasureKind::Value,
        MeasureKind::Nll,
        MeasureKind::Ece,
        MeasureKind::Confidence,
        MeasureKind::Entropy,
        MeasureKind::TeacherAgreement,
        MeasureKind::TeacherKl,
    ];

    /// Its column in the run table.
    #[must_use]
    pub fn column(self) -> &'static str {
        MEASURES[self as usize]
    }
}

/// The run table's measure columns, in [`MeasureKind::ALL`]'s order.
pub const MEASURES: [&str; 7] = ["value", "nll", "ece", "confidence", "entropy", "teacher_agreement", "teacher_kl"];

/// The runs, their per-entry summary, and each entry's values by seed (for pairing).
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// (entry id) → [(seed, value %)], seeds ascending.
    pub values: BTreeMap<String, Vec<(u64, f64)>>,
    /// One row per run: id, seed, model, method, and the [`MEASURES`].
    pub runs: DataFrame,
    /// One row per entry: id, n, and `<measure>_mean`, `<measure>_sd` (sample) for each of [`MEASURES`].
    pub entries: DataFrame,
}

/// A measure of an entry: mean, sample sd and count over its seeds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Measure {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub sd: f64,
    /// Seeds with the measure recorded.
    pub n: u32,
}

impl Aggregate {
    /// The summary of `measure` for entry `id`; `None` when not recorded.
    #[must_use]
    pub fn measure(&self, id: &str, measure: MeasureKind) -> Option<Measure> {
        let measure = measure.column();
        let ids = self.entries.column("id").ok()?.str().ok()?.clone();
        let row = (0..self.entries.height()).find(|&i| ids.get(i) == Some(id))?;
        let get = |col: &str| self.entries.column(col).ok()?.f64().ok()?.get(row);
        let mean = get(&format!("{measure}_mean"))?;
        let n = self.entries.column(&format!("{measure}_n")).ok()?.u32().ok()?.get(row)?;
        Some(Measure { mean, sd: get(&format!("{measure}_sd")).unwrap_or(0.0), n })
    }
}

fn percent(x: f64) -> f64 {
    100.0 * x
}

/// Builds the long run table of the chosen metric (with calibration at the epoch it comes from), groups it
/// by entry with polars, and keeps each entry's values by seed.
///
/// polars marks its eager group-by aggregations deprecated in favour of the lazy engine; the lazy feature
/// would more than double the release build a newcomer waits for (24 vs 10 min measured, DESIGN.md §1b) for
/// tables of a few dozen rows, so the eager ones are used on purpose.
#[allow(deprecated)]
pub fn aggregate(records: &[RunRecord], metric: Metric) -> Result<Aggregate, ReportError> {
    let column = |f: &dyn Fn(&RunRecord) -> Option<f64>| records.iter().map(f).collect::<Vec<Option<f64>>>();
    let cal = |r: &RunRecord| metric.calibration(r).cloned();
    let runs = df!(
        "id" => records.iter().map(|r| r.config.id.as_str()).collect::<Vec<_>>(),
        "seed" => records.iter().map(|r| r.config.seed).collect::<Vec<_>>(),
        "model" => records.iter().map(|r| r.config.model.to_string()).collect::<Vec<_>>(),
        "method" => records.iter().map(|r| r.config.method.name()).collect::<Vec<_>>(),
        "value" => column(&|r| metric.of(r)),
        "nll" => column(&|r| cal(r).map(|c| c.nll)),
        "ece" => column(&|r| cal(r).map(|c| percent(c.ece))),
        "confidence" => column(&|r| cal(r).map(|c| percent(c.confidence))),
        "entropy" => column(&|r| cal(r).map(|c| c.entropy)),
        "teacher_agreement" => column(&|r| cal(r).and_then(|c| c.teacher_agreement).map(percent)),
        "teacher_kl" => column(&|r| cal(r).and_then(|c| c.teacher_kl)),
    )?
    .sort(["id", "seed"], SortMultipleOptions::default())?;

    let mut values: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    let (ids, seeds, vals) =
        (runs.column("id")?.str()?.clone(), runs.column("seed")?.u64()?.clone(), runs.column("value")?.f64()?.clone());
    for i in 0..runs.height() {
        if let (Some(id), Some(seed), Some(v)) = (ids.get(i), seeds.get(i), vals.get(i)) {
            values.entry(id.to_string()).or_default().push((seed, v));
        }
    }

    // Per entry: mean, sample sd (ddof 1) and the count of recorded values of each measure (polars' group count
    // includes missing values, so the count is the sum of a "recorded" indicator).
    let mut flagged = runs.clone();
    for m in MEASURES {
        let present =
            runs.column(m)?.is_not_null().into_column().cast(&DataType::UInt32)?.with_name(format!("{m}_n").into());
        flagged.with_column(present)?;
    }
    let counted: Vec<String> = MEASURES.iter().map(|m| format!("{m}_n")).collect();
    let mut entries = runs.group_by(["id"])?.select(MEASURES).mean()?;
    for (frame, from, to) in [
        (runs.group_by(["id"])?.select(MEASURES).std(1)?, "_agg_std", "_sd"),
        (flagged.group_by(["id"])?.select(counted.as_slice()).sum()?, "_n_sum", "_n"),
    ] {
        entries = entries.join(&frame, ["id"], ["id"], JoinArgs::new(JoinType::Left), None)?;
        for m in MEASURES {
            entries.rename(&format!("{m}{from}"), format!("{m}{to}").into())?;
        }
    }
    for m in MEASURES {
        let n = entries.column(&format!("{m}_n"))?.cast(&DataType::UInt32)?;
        entries.replace(&format!("{m}_n"), n)?;
    }
    let entries = entries.sort(["id"], SortMultipleOptions::default())?;
    Ok(Aggregate { values, runs, entries })
}
