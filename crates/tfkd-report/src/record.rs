//! Run records as training wrote them (`results/<target>/<profile>/runs/*.json`: the one record type,
//! [`tfkd_records::RunRecord`]), and which of their accuracies a table shows.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tfkd_records::RunRecord;

use crate::ReportError;

/// Which accuracy a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Best test accuracy over epochs: the official code's protocol (model selection on the test set).
    BestTest,
    /// Test accuracy after the last epoch.
    Last,
    /// Test accuracy at the epoch of best validation accuracy (proper model selection).
    TestAtBestVal,
}

/// A metric name that is none of [`Metric`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric '{0}': expected best-test, last or test-at-best-val")]
pub struct UnknownMetric(pub String);

impl std::str::FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, UnknownMetric> {
        match s {
            "best-test" => Ok(Metric::BestTest),
            "last" => Ok(Metric::Last),
            "test-at-best-val" => Ok(Metric::TestAtBestVal),
            _ => Err(UnknownMetric(s.to_string())),
        }
    }
}

impl Metric {
    /// The value of a record, in percent.
    #[must_use]
    pub fn of(self, r: &RunRecord) -> Option<f64> {
        let v = match self {
            Metric::BestTest => Some(r.summary.best_test_acc),
            Metric::Last => Some(r.summary.last_test_acc),
            Metric::TestAtBestVal => r.summary.test_at_best_val,
        };
        v.map(|v| 100.0 * v)
    }

    /// The epoch the value is taken from: the one whose calibration goes with it.
    #[must_use]
    pub fn epoch(self, r: &RunRecord) -> Option<u32> {
        match self {
            Metric::BestTest => Some(r.summary.best_test_epoch),
            Metric::Last => r.metrics.last().map(|m| m.epoch),
            Metric::TestAtBestVal => r.summary.best_val_epoch,
        }
    }

    /// The test calibration at the epoch the value is taken from, if recorded.
    #[must_use]
    pub fn calibration(self, r: &RunRecord) -> Option<&tfkd_analysis::calibration::Calibration> {
        let epoch = self.epoch(r)?;
        r.metrics.iter().find(|m| m.epoch == epoch)?.test.as_ref()
    }

    /// A sentence for table headers.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Metric::BestTest => {
                "best test accuracy over epochs (%), the official code's protocol: model selection on the test set"
            }
            Metric::Last => "test accuracy after the last epoch (%)",
            Metric::TestAtBestVal => {
                "test accuracy at the epoch of best validation accuracy (%), selection on a held-out split"
            }
        }
    }
}

/// What is wrong with a record's values: an accuracy outside [0, 1], a loss that is not finite, an epoch beyond
/// the record's own schedule — values no training writes, which a report must not draw or aggregate.
fn out_of_range(r: &RunRecord) -> Option<String> {
    let s = &r.summary;
    let accuracies =
        [("summary.best_test_acc", Some(s.best_test_acc)), ("summary.last_test_acc", Some(s.last_test_acc))]
            .into_iter()
            .chain([("summary.test_at_best_val", s.test_at_best_val), ("teacher_test_acc", r.teacher_test_acc)])
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .chain(r.metrics.iter().flat_map(|m| {
                let e = m.epoch;
                [("train_acc", Some(m.train_acc)), ("test_acc", Some(m.test_acc)), ("val_acc", m.val_acc)]
                    .into_iter()
                    .filter_map(move |(k, v)| Some((format!("metrics[epoch {e}].{k}"), v?)))
            }));
    for (field, v) in accuracies {
        if !(0.0..=1.0).contains(&v) {
            return Some(format!("{field} = {v} is not an accuracy in [0, 1]"));
        }
    }
    for m in &r.metrics {
        for (k, v) in [("train_loss", m.train_loss), ("train_ce", m.train_ce), ("test_loss", m.test_loss)] {
            if !v.is_finite() {
                return Some(format!("metrics[epoch {}].{k} = {v} is not finite", m.epoch));
            }
        }
    }
    let epochs = r.config.train.epochs;
    (s.epochs > epochs || s.best_test_epoch > epochs || r.metrics.iter().any(|m| m.epoch > epochs))
        .then(|| format!("an epoch beyond the {epochs} its settings train for"))
}

/// Reads every `*.json` record in `dir`, sorted by label. A record whose values are out of range, or a second
/// record of the same run (a copy under another name would count as another seed), is an error naming the files.
pub fn load_dir(dir: &Path) -> Result<Vec<RunRecord>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(tfkd_io::IoError::new("reading", dir))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut records: Vec<(PathBuf, RunRecord)> = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(tfkd_io::IoError::new("reading", &p))?;
        let r: RunRecord =
            serde_json::from_str(&text).map_err(|source| ReportError::BadRecord { path: p.clone(), source })?;
        if let Some(message) = out_of_range(&r) {
            return Err(ReportError::BadValue { path: p, message });
        }
        if let Some((first, _)) = records.iter().find(|(_, q)| q.label == r.label) {
            let message = format!("a second record of run {} ({}), beside {}", r.label, r.run_id, first.display());
            return Err(ReportError::BadValue { path: p, message });
        }
        records.push((p, r));
    }
    Ok(records.into_iter().map(|(_, r)| r).collect())
}

/// The records of `exp`: those whose run id is the one the spec gives their settings now (planned with the
/// data hash they trained on), and the labels of the others — records of settings the spec no longer has
/// (a changed recipe, teacher or dataset) or edited by hand, which must never be reported as this spec's.
#[must_use]
pub fn current(exp: &tfkd_spec::Experiment, records: Vec<RunRecord>) -> (Vec<RunRecord>, Vec<String>) {
    let mut plans: std::collections::BTreeMap<String, Vec<tfkd_spec::PlannedRun>> = Default::default();
    let (mut kept, mut stale) = (Vec::new(), Vec::new());
    for r in records {
        if !exp.runs.iter().any(|c| c.label() == r.label) {
            continue;
        }
        let plan = plans.entry(r.data_hash.clone()).or_insert_with(|| tfkd_spec::plan(exp, &r.data_hash));
        // The run id and label, and the settings the report groups and names rows by: a record edited by hand
        // (another id, seed, model, method or teacher under the same run id) is not taken for the spec's run.
        let same = |p: &tfkd_spec::PlannedRun| {
            let (a, b) = (&p.config, &r.config);
            p.config.label() == r.label
                && p.run_id == r.run_id
                && (a.id == b.id && a.seed == b.seed && a.model == b.model && a.method == b.method)
                && a.teacher == b.teacher
        };
        if plan.iter().any(same) {
            kept.push(r);
        } else {
            stale.push(r.label);
        }
    }
    (kept, stale)
}
