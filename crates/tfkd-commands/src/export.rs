//! `tfkd export RUN`: a trained run's weights as a PyTorch `state_dict` under the model's PyTorch names, so
//! `torchvision.models.resnet18(num_classes=K).load_state_dict(torch.load(FILE))` takes a `torchvision.*`
//! student (strict), and the official code's CIFAR modules take the CIFAR zoo's.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use tfkd_trainers::{run::RunRecord, state::RunDir};

/// What was exported.
#[derive(Debug, serde::Serialize)]
pub struct Exported {
    /// The run's id.
    pub run_id: String,
    /// Its label (`id@seed`) and model.
    pub label: String,
    /// The model.
    pub model: String,
    /// The epoch of the weights (the run's selected epoch: best on validation, else on test).
    pub epoch: u32,
    /// Tensors written (variables plus a `num_batches_tracked` per BatchNorm).
    pub tensors: usize,
    /// The file written.
    pub path: PathBuf,
}

impl std::fmt::Display for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, run {}, epoch {}): {} tensors → {}",
            self.label,
            self.model,
            self.run_id,
            self.epoch,
            self.tensors,
            self.path.display()
        )
    }
}

/// Exports the best weights of finished run `run` (its id, as records and `tfkd status` show it) in
/// `cache_dir` to `out` (default `<run id>.pth` in the current folder).
pub fn export(cache_dir: &Path, run: &str, out: Option<PathBuf>) -> anyhow::Result<Exported> {
    if run.is_empty() || !run.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("'{run}' is not a run id (the hex id in a record's run_id, e.g. results/<target>/<profile>/runs/*.json)");
    }
    let dir = RunDir::new(cache_dir, run);
    let record: RunRecord = dir
        .read_json(&dir.done())?
        .with_context(|| format!("run {run} has not finished in {} (nothing to export)", cache_dir.display()))?;
    let damaged = dir.verify(&record);
    if let Some(d) = damaged.first() {
        bail!("run {run}'s weights are damaged ({d}); `tfkd run` retrains them, `tfkd clean --damaged` removes them");
    }
    let weights = tch::Tensor::read_safetensors(dir.best())
        .with_context(|| format!("reading the weights of run {run} ({})", dir.best().display()))?;
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{run}.pth")));
    let tensors = tfkd_models::torchvision::export_weights(&weights, &path)?;
    Ok(Exported {
        run_id: run.to_string(),
        label: record.label.clone(),
        model: record.config.model.to_string(),
        epoch: record.summary.selected_epoch(),
        tensors,
        path,
    })
}
