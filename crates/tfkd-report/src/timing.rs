//! Estimated against measured time: what `run`/`reproduce` predicted before training (kept in
//! `estimate.json` beside the records) and what the runs then took (their records' wall times).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{folders::TargetDir, ReportError, RunRecord};

/// A plan's estimate as printed before training, and the invocation's measured wall time once it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Estimated wall seconds for the runs left to train, scheduled `jobs` at a time.
    pub estimated_s: f64,
    /// Runs at once.
    pub jobs: usize,
    /// Estimated seconds of each run left (`id@seed`), one run alone.
    pub per_run: BTreeMap<String, f64>,
    /// Wall seconds the invocation took to train them (set when it ended).
    pub measured_s: Option<f64>,
}

impl Estimate {
    /// Reads `estimate.json` from a target's results folder; `None` when there is none.
    pub fn read(target: &TargetDir) -> Result<Option<Estimate>, ReportError> {
        let path = target.estimate();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|source| ReportError::BadRecord { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(tfkd_io::IoError::new("reading", &path)(e).into()),
        }
    }

    /// Writes it atomically into a target's results folder.
    pub fn write(&self, target: &TargetDir) -> Result<(), ReportError> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        Ok(tfkd_io::write_atomic(&target.estimate(), text)?)
    }
}

/// One run's estimated and measured seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunTiming {
    /// `id@seed`.
    pub label: String,
    /// Estimated before training, if the last invocation that trained it kept an estimate.
    pub estimated_s: Option<f64>,
    /// Its record's wall time.
    pub measured_s: Option<f64>,
}

/// Estimated against measured time of a target's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// The last training invocation's estimate for what it had left.
    pub estimated_s: Option<f64>,
    /// That invocation's measured wall time.
    pub measured_s: Option<f64>,
    /// Runs at once in that invocation.
    pub jobs: Option<usize>,
    /// Every run, in record order.
    pub runs: Vec<RunTiming>,
}

/// The timing of `records`, with the kept estimate when there is one.
#[must_use]
pub fn timing(records: &[RunRecord], estimate: Option<&Estimate>) -> Timing {
    Timing {
        estimated_s: estimate.map(|e| e.estimated_s),
        measured_s: estimate.and_then(|e| e.measured_s),
        jobs: estimate.map(|e| e.jobs),
        runs: records
            .iter()
            .map(|r| RunTiming {
                label: r.label.clone(),
                estimated_s: estimate.and_then(|e| e.per_run.get(&r.label).copied()),
                measured_s: r.provenance.wall_seconds,
            })
            .collect(),
    }
}
