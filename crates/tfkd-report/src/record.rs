//! Run records as written by training (`results/<target>/<profile>/runs/*.json`), read without libtorch.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ReportError;

/// The parts of a run record the report uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Run id.
    pub run_id: String,
    /// `id@seed`.
    pub label: String,
    /// Resolved settings (only the fields the report reads).
    pub config: RecordConfig,
    /// Test accuracy of the teacher weights used, if any.
    pub teacher_test_acc: Option<f64>,
    /// Teacher epoch used, if any.
    pub teacher_epoch: Option<u32>,
    /// Accuracies.
    pub summary: RecordSummary,
    /// Per-epoch metrics.
    pub metrics: Vec<RecordEpoch>,
    /// Provenance, kept verbatim.
    pub provenance: serde_json::Value,
}

/// Settings of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordConfig {
    /// Entry id.
    pub id: String,
    /// Seed.
    pub seed: u64,
    /// Model.
    pub model: String,
    /// The class count the elementwise-mean KL was divided by, when a substitution kept the paper's KD weight.
    #[serde(default)]
    pub kl_classes: Option<usize>,
    /// The method and its hyper-parameters (`kind` names it).
    #[serde(default)]
    pub method: serde_json::Value,
    /// The teacher entry, for distillation runs.
    #[serde(default)]
    pub teacher: Option<String>,
}

impl RecordConfig {
    /// The method's name (`baseline`, `kd`, `tf-kd-reg`, …).
    #[must_use]
    pub fn method_name(&self) -> &str {
        self.method.get("kind").and_then(serde_json::Value::as_str).unwrap_or("?")
    }
}

/// Accuracies of a record (fractions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// After the last epoch.
    pub last_test_acc: f64,
    /// Best over epochs (the official protocol).
    pub best_test_acc: f64,
    /// At the best validation epoch.
    pub test_at_best_val: Option<f64>,
    /// Epoch of the best test accuracy.
    #[serde(default)]
    pub best_test_epoch: Option<u32>,
    /// Epoch of the best validation accuracy.
    #[serde(default)]
    pub best_val_epoch: Option<u32>,
}

/// One epoch of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEpoch {
    /// 1-based epoch.
    pub epoch: u32,
    /// Test accuracy.
    pub test_acc: f64,
    /// Test calibration and confidence (absent in records from before they were measured).
    #[serde(default)]
    pub test: Option<tfkd_analysis::calibration::Calibration>,
}

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

impl Metric {
    /// The value of a record, in percent.
    #[must_use]
    pub fn of(self, r: &Record) -> Option<f64> {
        let v = match self {
            Metric::BestTest => Some(r.summary.best_test_acc),
            Metric::Last => Some(r.summary.last_test_acc),
            Metric::TestAtBestVal => r.summary.test_at_best_val,
        };
        v.map(|v| 100.0 * v)
    }

    /// The epoch the value is taken from: the one whose calibration goes with it.
    #[must_use]
    pub fn epoch(self, r: &Record) -> Option<u32> {
        match self {
            Metric::BestTest => r.summary.best_test_epoch,
            Metric::Last => r.metrics.last().map(|m| m.epoch),
            Metric::TestAtBestVal => r.summary.best_val_epoch,
        }
    }

    /// The test calibration at the epoch the value is taken from, if recorded.
    #[must_use]
    pub fn calibration(self, r: &Record) -> Option<&tfkd_analysis::calibration::Calibration> {
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

/// Reads every `*.json` record in `dir`, sorted by label.
pub fn load_dir(dir: &Path) -> Result<Vec<Record>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(tfkd_io::IoError::new("reading", dir))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(tfkd_io::IoError::new("reading", &p))?;
            serde_json::from_str(&text).map_err(|source| ReportError::BadRecord { path: p.clone(), source })
        })
        .collect()
}
