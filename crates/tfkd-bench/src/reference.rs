//! The references benchmarks are measured against, typed: the PyTorch step (`benches/torch_train.py steps`)
//! or another tfkd report, PyTorch's official loop (`benches/torch_train.py timed`), and torchvision's
//! ImageNet input pipeline (`benches/torchvision_imagenet_data.py`). Each keeps the fields it does not name,
//! so a report's JSON carries the reference whole.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tfkd_trainers::provenance::Provenance;

/// A row of the step reference (`benches/torch_train.py steps`), read from its JSON output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceRow {
    /// Model name.
    pub model: String,
    /// Width multiplier.
    pub width: f64,
    /// Training images per second of the PyTorch loop.
    pub train_img_per_s: f64,
}

/// The reference of `tfkd bench models --reference FILE`: the JSON rows of `benches/torch_train.py steps`, or the
/// JSON report of another `tfkd bench models --out` (e.g. the same models under other numerics), with its label.
pub fn read_step_reference(path: &Path) -> anyhow::Result<(Vec<ReferenceRow>, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(rows) = serde_json::from_str::<Vec<ReferenceRow>>(&text) {
        return Ok((rows, "PyTorch".into()));
    }
    #[derive(Deserialize)]
    struct Other {
        provenance: Provenance,
        rows: Vec<ReferenceRow>,
    }
    let other: Other = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected the JSON rows of benches/torch_train.py steps or the JSON of `tfkd bench models --out`",
            path.display()
        )
    })?;
    // The mode's name only (`portable-avx2 (VAR=value, …)` → `portable-avx2`).
    let numerics =
        other.provenance.numerics.as_deref().and_then(|n| n.split_whitespace().next()).unwrap_or("unrecorded");
    Ok((other.rows, format!("tfkd with numerics {numerics}")))
}

/// One model of PyTorch's official training loop, timed (`benches/torch_train.py timed`: one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopReference {
    /// Model name.
    pub model: String,
    /// Width multiplier.
    pub width: f64,
    /// Training images per second, DataLoader workers and all.
    pub img_per_s: f64,
    /// What else the script recorded (batch, workers, torch threads, device, …).
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

/// The JSON lines of `benches/torch_train.py timed`, one per model and width.
pub fn read_loop_reference(path: &Path) -> anyhow::Result<Vec<LoopReference>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{} line {}: expected a JSON line of benches/torch_train.py timed (model, width, img_per_s)",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// torchvision's ImageNet training input pipeline, timed (`benches/torchvision_imagenet_data.py`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TorchvisionData {
    /// Augmented images per second.
    pub img_per_s: f64,
    /// DataLoader worker processes.
    pub workers: usize,
    /// CPU seconds of the main process and workers ÷ the timed seconds.
    pub cores_busy: Option<f64>,
    /// Cores other processes kept busy meanwhile.
    pub other_cores_busy: Option<f64>,
    /// Versions: torchvision, Pillow, and Pillow's libjpeg.
    pub torchvision: Option<String>,
    /// Pillow's version.
    pub pillow: Option<String>,
    /// Pillow's libjpeg version.
    pub libjpeg: Option<String>,
    /// Milliseconds per image of each stage on one core (read, decode, crop_resize_flip, to_tensor_normalize).
    #[serde(default)]
    pub stages_ms: BTreeMap<String, f64>,
    /// What else the script recorded.
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

impl TorchvisionData {
    /// Images per second per worker.
    #[must_use]
    pub fn per_core(&self) -> f64 {
        self.img_per_s / self.workers.max(1) as f64
    }
}

/// The JSON of `benches/torchvision_imagenet_data.py` at `path`.
pub fn read_torchvision_data(path: &Path) -> anyhow::Result<TorchvisionData> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading --reference {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!("--reference {}: expected the JSON of benches/torchvision_imagenet_data.py", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop reference's lines keep every field they carry, and a line that is not one says which.
    #[test]
    fn loop_reference_lines_are_typed_and_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.jsonl");
        std::fs::write(
            &path,
            "{\"model\": \"resnet18\", \"width\": 0.125, \"img_per_s\": 900.5, \"workers\": 2}\n\n{\"model\": 3}\n",
        )
        .unwrap();
        let err = format!("{:#}", read_loop_reference(&path).unwrap_err());
        assert!(err.contains("ref.jsonl line 3"), "{err}");
        std::fs::write(&path, "{\"model\": \"resnet18\", \"width\": 0.125, \"img_per_s\": 900.5, \"workers\": 2}\n")
            .unwrap();
        let rows = read_loop_reference(&path).unwrap();
        assert_eq!((rows[0].width, rows[0].img_per_s), (0.125, 900.5));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["workers"], 2);
    }

    /// torchvision's reference reads as written by its script (the committed report's), per core included.
    #[test]
    fn the_torchvision_reference_reads_back() {
        let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../results/bench/data-imagenet.json");
        let text = std::fs::read_to_string(committed).unwrap();
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let reference: TorchvisionData = serde_json::from_value(report["reference"].clone()).unwrap();
        assert!(reference.per_core() > 0.0 && reference.stages_ms.contains_key("decode"));
        assert_eq!(serde_json::to_value(&reference).unwrap(), report["reference"]);
    }
}
