//! A finished run's record (`done.json` in its folder, `<label>.json` under `results/`): what it was, what it
//! measured, where and how it ran, and the checksums of its weights.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tfkd_names::{Augment, Normalize};
use tfkd_spec::RunConfig;

use crate::{
    metrics::{EpochMetrics, Summary},
    provenance::Provenance,
};

/// Everything recorded about a finished run (`done.json`, and `<label>.json` under `results/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Content-addressed id.
    pub run_id: String,
    /// `id@seed`.
    pub label: String,
    /// Resolved settings.
    pub config: RunConfig,
    /// The teacher run's id.
    pub teacher_id: Option<String>,
    /// The teacher epoch whose weights were used.
    pub teacher_epoch: Option<u32>,
    /// Test accuracy of those teacher weights.
    pub teacher_test_acc: Option<f64>,
    /// The sha256 of an external teacher's weights file (a teacher trained elsewhere, e.g. torchvision's
    /// pretrained models); omitted for teachers trained by tfkd, whose run folders record their digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_weights_sha256: Option<String>,
    /// Content hash of the data source.
    pub data_hash: String,
    /// Images in train / val / test.
    pub split_sizes: [usize; 3],
    /// Normalisation constants used.
    pub normalize: Normalize,
    /// Augmentation used.
    pub augment: Augment,
    /// Accuracies.
    pub summary: Summary,
    /// Per-epoch metrics.
    pub metrics: Vec<EpochMetrics>,
    /// Where and how it ran.
    pub provenance: Provenance,
    /// sha256 of each weights file of the run folder (`best.safetensors`, `epoch-<n>.safetensors`), so a
    /// damaged file is found before a student learns from it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, String>,
}
