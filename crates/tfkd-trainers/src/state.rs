//! The files of a run's working folder and their atomic updates.
//!
//! ```text
//! <cache>/runs/<run-id>/
//!   state.json                 pointer: last completed epoch, metrics so far (written last, atomically)
//!   state-<epoch>.safetensors  model variables (model.*) and momentum buffers (momentum.*) after that epoch
//!   best.safetensors           weights of the selected epoch (best val, else best test): the teacher weights
//!   epoch-<n>.safetensors      snapshots dependents asked for (De-KD teachers)
//!   done.json                  the finished run's record; its presence means "never train again"
//!   failed.json                why the run stopped (NaN loss, …)
//! ```
//!
//! Every file is written under a temporary name and renamed into place, so `kill -9` at any moment
//! leaves either the previous state or the new one, never a torn file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tch::{nn::VarStore, Tensor};

use crate::{
    error::{io, Result, TrainError},
    metrics::EpochMetrics,
};

/// The resumable part of a run, recorded in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The run it belongs to.
    pub run_id: String,
    /// Epochs completed.
    pub epochs_done: u32,
    /// Global optimisation steps done.
    pub steps: u64,
    /// Metrics of the completed epochs.
    pub metrics: Vec<EpochMetrics>,
    /// Selected epoch so far (its weights are in best.safetensors).
    pub selected_epoch: Option<u32>,
}

/// Where a run stands, as its folder says.
#[derive(Debug)]
pub enum RunState {
    /// Finished: its record.
    Done(Box<crate::run::RunRecord>),
    /// Stopped with an error: the message.
    Failed(String),
    /// Some epochs checkpointed: running now, or interrupted (the same command resumes it).
    Partial(Progress),
    /// Nothing there yet.
    Pending,
}

/// A run's working folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The folder of `run_id` under `cache_dir/runs`.
    #[must_use]
    pub fn new(cache_dir: &Path, run_id: &str) -> Self {
        RunDir { root: cache_dir.join("runs").join(run_id) }
    }

    /// The folder.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `done.json`.
    #[must_use]
    pub fn done(&self) -> PathBuf {
        self.root.join("done.json")
    }

    /// `failed.json`.
    #[must_use]
    pub fn failed(&self) -> PathBuf {
        self.root.join("failed.json")
    }

    /// `best.safetensors`.
    #[must_use]
    pub fn best(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }

    /// `epoch-<n>.safetensors`.
    #[must_use]
    pub fn snapshot(&self, epoch: u32) -> PathBuf {
        self.root.join(format!("epoch-{epoch}.safetensors"))
    }

    fn state_file(&self, epoch: u32) -> PathBuf {
        self.root.join(format!("state-{epoch}.safetensors"))
    }

    /// `state.json`.
    #[must_use]
    pub fn progress(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// Done, failed, partial or pending, in that order of precedence.
    pub fn state(&self) -> Result<RunState> {
        if let Some(record) = self.read_json(&self.done())? {
            return Ok(RunState::Done(Box::new(record)));
        }
        if let Some(f) = self.read_json::<serde_json::Value>(&self.failed())? {
            return Ok(RunState::Failed(f["error"].as_str().unwrap_or("?").to_string()));
        }
        Ok(self.read_json(&self.progress())?.map_or(RunState::Pending, RunState::Partial))
    }

    /// Creates the folder.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))
    }

    /// Writes JSON atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Config(e.to_string()))?;
        atomic_write(path, |tmp| std::fs::write(tmp, text.as_bytes()).map_err(io(tmp)))
    }

    /// Reads JSON; `None` when the file is absent.
    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), detail: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Saves the state after `progress.epochs_done` epochs: tensors first, then the pointer.
    pub fn save_state(&self, vs: &VarStore, momentum: &BTreeMap<String, Tensor>, progress: &Progress) -> Result<()> {
        let mut named: Vec<(String, Tensor)> =
            vs.variables().into_iter().map(|(k, v)| (format!("model.{k}"), v)).collect();
        named.extend(momentum.iter().map(|(k, v)| (format!("momentum.{k}"), v.shallow_clone())));
        let file = self.state_file(progress.epochs_done);
        atomic_write(&file, |tmp| {
            Tensor::write_safetensors(&named, tmp)
                .map_err(|e| TrainError::Checkpoint { path: tmp.to_path_buf(), detail: e.to_string() })
        })?;
        self.write_json(&self.progress(), progress)?;
        // Older states are no longer referenced.
        for epoch in 0..progress.epochs_done {
            let _ = std::fs::remove_file(self.state_file(epoch));
        }
        Ok(())
    }

    /// Loads the last saved state into `vs`; returns the progress and momentum buffers, or `None` to start fresh.
    pub fn load_state(&self, vs: &mut VarStore, run_id: &str) -> Result<Option<(Progress, BTreeMap<String, Tensor>)>> {
        let Some(progress) = self.read_json::<Progress>(&self.progress())? else { return Ok(None) };
        let file = self.state_file(progress.epochs_done);
        let bad = |detail: String| TrainError::Checkpoint { path: file.clone(), detail };
        if progress.run_id != run_id {
            return Err(bad(format!("belongs to run {}, not {run_id}", progress.run_id)));
        }
        let tensors = Tensor::read_safetensors(&file).map_err(|e| bad(e.to_string()))?;
        let mut momentum = BTreeMap::new();
        let mut vars = vs.variables();
        let device = vs.device();
        let mut restored = 0;
        for (name, t) in tensors {
            if let Some(k) = name.strip_prefix("model.") {
                let Some(dst) = vars.get_mut(k) else { return Err(bad(format!("unknown variable {k}"))) };
                tch::no_grad(|| dst.f_copy_(&t)).map_err(|e| bad(e.to_string()))?;
                restored += 1;
            } else if let Some(k) = name.strip_prefix("momentum.") {
                momentum.insert(k.to_string(), t.to_device(device));
            }
        }
        if restored != vars.len() {
            return Err(bad(format!("restored {restored} of {} variables", vars.len())));
        }
        Ok(Some((progress, momentum)))
    }

    /// Saves model weights (a snapshot or the best weights) atomically.
    pub fn save_weights(&self, vs: &VarStore, path: &Path) -> Result<()> {
        atomic_write(path, |tmp| tfkd_models::save(vs, tmp).map_err(TrainError::from))
    }
}

/// Writes through `write(tmp)` and renames the temporary file onto `path`.
fn atomic_write(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Keep the extension last: VarStore picks the format from it.
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(io(path))
}
