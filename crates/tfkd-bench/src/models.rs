//! `tfkd bench models`: training images per second of each model and width (batch 128, 32×32 inputs,
//! K = 10), the step runs take, beside the PyTorch step or another tfkd report measured on the same machine.

use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};
use tfkd_models::{Arch, ModelConfig};
use tfkd_trainers::{
    provenance::Provenance,
    step::{Hyper, Step},
    Context,
};

use crate::{
    cross_entropy,
    footer::{provenance_line, where_measured},
    reference::ReferenceRow,
    timer::{time_steps, Budget},
    zoo::thousands,
};

/// One row of the model benchmark.
#[derive(Debug, Serialize)]
pub struct ModelRow {
    /// Model name.
    pub model: String,
    /// Width multiplier.
    pub width: f64,
    /// Trainable parameters.
    pub params: i64,
    /// Training images per second (forward + backward + SGD step, batch `batch`, 32×32, K = 10).
    pub train_img_per_s: f64,
    /// Timed steps.
    pub steps: usize,
}

/// Training throughput of `arch` at `width` with batch `batch` on `device` (the CPU with all threads, or a GPU).
pub fn model(arch: Arch, width: f64, batch: i64, max_seconds: f64, device: Device) -> anyhow::Result<ModelRow> {
    tch::manual_seed(0);
    let mut train = Step::new(device, arch, ModelConfig { width, ..ModelConfig::new(10) }, &Hyper::official(1), false)?;
    let x = Tensor::randn([batch, 3, 32, 32], (Kind::Float, device));
    let y = Tensor::randint(10, [batch], (Kind::Int64, device));
    let budget = Budget {
        max_steps: if device.is_cuda() { 2_000 } else { 20 },
        sync_every: 10,
        ..Budget::seconds(max_seconds, device)
    };
    let timed = time_steps(device, budget, &mut || {
        train.train(&[x.shallow_clone()], &[y.shallow_clone()], &[cross_entropy()], &[], &[0.1])?;
        Ok(())
    })?;
    Ok(ModelRow {
        model: arch.to_string(),
        width,
        params: tfkd_models::parameter_count(&train.vs),
        train_img_per_s: timed.rate(batch as usize),
        steps: timed.steps,
    })
}

/// What `tfkd bench models` measured: where and when, our rows, and the reference's rows measured in the
/// same invocation (if given).
#[derive(Debug, Serialize)]
pub struct ModelsReport {
    /// Version, commit, libtorch, device, threads, time.
    pub provenance: Provenance,
    /// Batch size.
    pub batch: i64,
    /// tfkd's rows.
    pub rows: Vec<ModelRow>,
    /// The reference's rows.
    pub reference: Vec<ReferenceRow>,
    /// What the reference is ("PyTorch", or "tfkd with numerics native" for another `tfkd bench models`).
    #[serde(default)]
    pub reference_label: String,
}

/// Measures every model at every width on the context's device; each row is said to `obs` as it is measured.
pub fn models(
    (archs, widths): (&[Arch], &[f64]),
    batch: i64,
    seconds: f64,
    ctx: &Context,
    (reference, reference_label): (Vec<ReferenceRow>, String),
    obs: &mut dyn tfkd_trainers::Observer,
) -> anyhow::Result<ModelsReport> {
    let start = Instant::now();
    let mut provenance = tfkd_trainers::provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
    let mut rows = Vec::new();
    for &width in widths {
        for &arch in archs {
            let row = model(arch, width, batch, seconds, ctx.device)?;
            let line = format!("{:<18} width {:<6} {:>10.1} img/s", row.model, row.width, row.train_img_per_s);
            obs.event(&tfkd_trainers::Event::note(line));
            rows.push(row);
        }
    }
    provenance.finish(start.elapsed().as_secs_f64());
    Ok(ModelsReport { provenance, batch, rows, reference, reference_label })
}

impl ModelsReport {
    /// A Markdown table, with the reference's speed and the ratio where it measured the model, and a provenance line.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Training throughput on {}: batch {}, 32×32 inputs, K = 10, SGD step included.\n\n",
            where_measured(&self.provenance),
            self.batch
        );
        if self.reference.is_empty() {
            out += "| model | width | params | train img/s |\n|---|---:|---:|---:|\n";
        } else {
            out += &format!(
                "| model | width | params | train img/s | reference ({}) img/s | ratio / reference |\n\
                 |---|---:|---:|---:|---:|---:|\n",
                self.reference_label
            );
        }
        for r in &self.rows {
            out += &format!("| {} | {} | {} | {:.1} |", r.model, r.width, thousands(r.params), r.train_img_per_s);
            if !self.reference.is_empty() {
                out += &match self.reference.iter().find(|x| x.model == r.model && x.width == r.width) {
                    Some(x) => format!(" {:.1} | {:.2}× |", x.train_img_per_s, r.train_img_per_s / x.train_img_per_s),
                    None => " — | — |".to_string(),
                };
            }
            out.push('\n');
        }
        out += &format!("\n{}\n", provenance_line(&self.provenance));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::read_step_reference;

    /// `--reference` takes PyTorch's rows or another tfkd report (whose numerics mode names the column), and a
    /// file that is neither is refused with what was expected.
    #[test]
    fn a_reference_is_pytorch_rows_or_another_tfkd_report() {
        let dir = tempfile::tempdir().unwrap();
        let torch = dir.path().join("torch.json");
        std::fs::write(&torch, r#"[{"model": "resnet18", "width": 1.0, "train_img_per_s": 50.5}]"#).unwrap();
        let (rows, label) = read_step_reference(&torch).unwrap();
        assert_eq!((rows.len(), rows[0].train_img_per_s, label.as_str()), (1, 50.5, "PyTorch"));

        let report = ModelsReport {
            provenance: Provenance::capture(
                "2.11.0",
                "cpu",
                "portable-avx2 (ATEN_CPU_CAPABILITY=avx2; MKL branch COMPATIBLE)",
                2,
            ),
            batch: 128,
            rows: vec![ModelRow { model: "cnn5".into(), width: 0.125, params: 5946, train_img_per_s: 900.0, steps: 3 }],
            reference: Vec::new(),
            reference_label: String::new(),
        };
        let ours = dir.path().join("ours.json");
        std::fs::write(&ours, serde_json::to_string(&report).unwrap()).unwrap();
        let (rows, label) = read_step_reference(&ours).unwrap();
        assert_eq!((rows[0].model.as_str(), rows[0].train_img_per_s), ("cnn5", 900.0));
        assert_eq!(label, "tfkd with numerics portable-avx2");

        let with = ModelsReport { reference: rows, reference_label: label, ..report };
        let table = with.markdown();
        assert!(
            table.contains("reference (tfkd with numerics portable-avx2) img/s") && table.contains("| 1.00× |"),
            "{table}"
        );

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"rows": 3}"#).unwrap();
        let err = format!("{:#}", read_step_reference(&bad).unwrap_err());
        assert!(err.contains("bad.json") && err.contains("benches/torch_train.py steps"), "{err}");
    }
}
