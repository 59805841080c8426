//! A run's working folder: its files, their checksummed updates, its lease, and what state it is in.
//!
//! ```text
//! <cache>/runs/<run-id>/
//!   lock                          lease of the process training the run (host, pid, heartbeat)
//!   state-<step>.safetensors      model variables (model.*) and momentum buffers (momentum.*) after <step>
//!                                 optimisation steps; the last two are kept
//!   state-<step>.json             progress at that point, with the sha256 of its .safetensors (written after it)
//!   best.safetensors              weights of the selected epoch (best val, else best test): the teacher weights
//!   epoch-<n>.safetensors         snapshots dependents asked for (De-KD teachers)
//!   done.json                     the finished run's record, with the sha256 of every weights file
//!   failed.json                   why the run stopped (NaN loss, a Slurm task that failed, …)
//!   <executor>.json               what an executor that hands runs out recorded of the job that trains it
//!                                 (`slurm.json`: the Slurm task), opaque here
//! ```
//!
//! Every file goes through the one atomic write ([`tfkd_io::write_atomic`]), so `kill -9` at any moment
//! leaves the previous file or the new one, never a torn one. A file damaged anyway (a disk error, a copy
//! cut short, a hand edit) is found by its checksum or its parse: the run is then [`RunState::Damaged`],
//! reported with the file, and the engine resumes it from its last good checkpoint or retrains it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{nn::VarStore, Tensor};
use tfkd_io::{atomic::write_atomic_if, write_atomic_with, IoError, Owner};

pub use crate::metrics::EpochSoFar;
use crate::{
    error::{Result, TrainError},
    metrics::EpochMetrics,
    run::RunRecord,
};

/// Checkpoints kept per run: the newest, and the one before it in case the newest is damaged.
const KEEP: usize = 2;

/// The resumable part of a run, recorded in `state-<step>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The run it belongs to.
    pub run_id: String,
    /// Epochs completed.
    pub epochs_done: u32,
    /// Batches of the epoch in progress already trained (0 at an epoch boundary).
    #[serde(default)]
    pub batches_done: usize,
    /// Global optimisation steps done.
    pub steps: u64,
    /// Metrics of the completed epochs.
    pub metrics: Vec<EpochMetrics>,
    /// Selected epoch so far (its weights are in best.safetensors).
    pub selected_epoch: Option<u32>,
    /// The sums of the epoch in progress, when the checkpoint was taken between two batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch_so_far: Option<EpochSoFar>,
    /// sha256 of `state-<steps>.safetensors`.
    #[serde(default)]
    pub tensors_sha256: String,
    /// sha256 of `best.safetensors` at this point.
    #[serde(default)]
    pub best_sha256: Option<String>,
}

impl Progress {
    /// A run that has not started.
    #[must_use]
    pub fn fresh(run_id: &str) -> Self {
        Progress {
            run_id: run_id.to_string(),
            epochs_done: 0,
            batches_done: 0,
            steps: 0,
            metrics: Vec::new(),
            selected_epoch: None,
            epoch_so_far: None,
            tensors_sha256: String::new(),
            best_sha256: None,
        }
    }

    /// Where training resumes, as (epoch, batch): comparable between runs.
    #[must_use]
    pub fn position(&self) -> (u32, usize) {
        (self.epochs_done, self.batches_done)
    }
}

/// A file of a run folder that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub detail: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.detail)
    }
}

/// A checkpoint to resume from: the progress and the member's tensors (`model.*`, `momentum.*`).
#[derive(Debug)]
pub struct Checkpoint {
    /// Progress at the checkpoint.
    pub progress: Progress,
    /// The model variables by name.
    pub model: Vec<(String, Tensor)>,
    /// The momentum buffers by parameter name.
    pub momentum: BTreeMap<String, Tensor>,
}

/// Where a run stands, as its folder says.
#[derive(Debug)]
pub enum RunState {
    /// Finished: its record.
    Done(Box<RunRecord>),
    /// Stopped with an error: the message.
    Failed(String),
    /// Some steps checkpointed (resumable); `damaged` lists newer checkpoints that cannot be used.
    Partial {
        /// Progress of the newest good checkpoint.
        progress: Box<Progress>,
        /// Newer checkpoint files that are damaged.
        damaged: Vec<Damage>,
    },
    /// Files that cannot be used and nothing good to resume from, or a damaged record.
    Damaged(Vec<Damage>),
    /// Nothing there yet.
    Pending,
}

impl RunState {
    /// Where training resumes, as (epoch, batch): the newest good checkpoint of a partial run, `None` for any
    /// other state.
    #[must_use]
    pub fn resume_position(&self) -> Option<(u32, usize)> {
        match self {
            RunState::Partial { progress, .. } => Some(progress.position()),
            _ => None,
        }
    }
}

/// A run's working folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

/// Asked before each file a run's holder writes or removes in the run's folder: whether the folder is still
/// its own (its lease). `&|| true` where no lease is involved.
pub type MayWrite<'a> = &'a dyn Fn() -> bool;

/// `Ok` when a guarded write went through; [`TrainError::LeaseLost`] when the guard refused it.
fn committed(written: bool) -> Result<()> {
    if written {
        Ok(())
    } else {
        Err(TrainError::LeaseLost { owner: "another process".into() })
    }
}

/// sha256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
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

    /// `<executor>.json`: what executor `executor` recorded of the job that trains the run (Slurm: its task,
    /// written by the submitter, read by `status` and the next submission). Opaque to the run folder.
    #[must_use]
    pub fn executor_file(&self, executor: &str) -> PathBuf {
        self.root.join(format!("{executor}.json"))
    }

    /// Marks the run failed with `error` (`failed.json`), if `may` still allows writing.
    pub fn write_failed(&self, error: &str, may: MayWrite<'_>) -> Result<()> {
        self.write_json_if(&self.failed(), &serde_json::json!({ "error": error }), may)
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

    /// `lock`.
    #[must_use]
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    fn state_tensors(&self, step: u64) -> PathBuf {
        self.root.join(format!("state-{step}.safetensors"))
    }

    fn state_json(&self, step: u64) -> PathBuf {
        self.root.join(format!("state-{step}.json"))
    }

    /// The steps of the checkpoints present (`state-<step>.json`), newest first.
    fn checkpoint_steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("state-")?.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        steps.sort_unstable_by(|a, b| b.cmp(a));
        steps
    }

    /// The live process holding the run's lease, if any.
    #[must_use]
    pub fn holder(&self) -> Option<Owner> {
        let owner = tfkd_io::lease::record_at(&self.lock())?;
        let local = owner.host == tfkd_io::host_name();
        (!local || tfkd_io::temp::pid_alive(owner.pid)).then_some(owner)
    }

    /// Done, failed, partial, damaged or pending, from the files alone (weights are checked by [`RunDir::verify`]).
    pub fn state(&self) -> Result<RunState> {
        match self.read_json::<RunRecord>(&self.done()) {
            Ok(Some(record)) => return Ok(RunState::Done(Box::new(record))),
            Ok(None) => {}
            Err(TrainError::Damaged { file, detail }) => return Ok(RunState::Damaged(vec![Damage { file, detail }])),
            Err(e) => return Err(e),
        }
        match self.read_json::<serde_json::Value>(&self.failed()) {
            Ok(Some(f)) => return Ok(RunState::Failed(f["error"].as_str().unwrap_or("?").to_string())),
            Ok(None) => {}
            Err(TrainError::Damaged { file, detail }) => return Ok(RunState::Damaged(vec![Damage { file, detail }])),
            Err(e) => return Err(e),
        }
        let (good, damaged) = self.newest_good_progress();
        Ok(match good {
            Some(progress) => RunState::Partial { progress: Box::new(progress), damaged },
            None if damaged.is_empty() => RunState::Pending,
            None => RunState::Damaged(damaged),
        })
    }

    /// The newest checkpoint whose JSON parses and whose tensors match their checksum, and the damaged newer ones.
    fn newest_good_progress(&self) -> (Option<Progress>, Vec<Damage>) {
        let mut damaged = Vec::new();
        for step in self.checkpoint_steps() {
            match self.check_checkpoint(step) {
                Ok(progress) => return (Some(progress), damaged),
                Err(d) => damaged.push(d),
            }
        }
        (None, damaged)
    }

    fn check_checkpoint(&self, step: u64) -> Result<Progress, Damage> {
        let json = self.state_json(step);
        let damage = |file: &Path, detail: String| Damage { file: file.to_path_buf(), detail };
        let text = std::fs::read_to_string(&json).map_err(|e| damage(&json, e.to_string()))?;
        let progress: Progress =
            serde_json::from_str(&text).map_err(|e| damage(&json, format!("not a checkpoint: {e}")))?;
        let tensors = self.state_tensors(step);
        let sha = sha256_file(&tensors).map_err(|e| damage(&tensors, e.to_string()))?;
        if sha != progress.tensors_sha256 {
            return Err(damage(
                &tensors,
                format!("checksum {sha} does not match its checkpoint's {}", progress.tensors_sha256),
            ));
        }
        Ok(progress)
    }

    /// Checks a finished run's weights files against the checksums in its record; the damaged ones.
    #[must_use]
    pub fn verify(&self, record: &RunRecord) -> Vec<Damage> {
        record
            .weights
            .iter()
            .filter_map(|(name, want)| {
                let file = self.root.join(name);
                match sha256_file(&file) {
                    Ok(got) if &got == want => None,
                    Ok(got) => {
                        Some(Damage { file, detail: format!("checksum {got} does not match the record's {want}") })
                    }
                    Err(e) => Some(Damage { file, detail: e.to_string() }),
                }
            })
            .collect()
    }

    /// Checkpoint files (`state-*`) beyond the newest [`KEEP`] checkpoints, which a run keeps to repair its
    /// record from: left behind by a process stopped while it pruned, or by hand.
    #[must_use]
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let keep: Vec<u64> = self.checkpoint_steps().into_iter().take(KEEP).collect();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let step = name.strip_prefix("state-").and_then(|r| r.split('.').next()).and_then(|n| n.parse().ok());
                step.is_some_and(|n: u64| !keep.contains(&n))
            })
            .map(|e| e.path())
            .collect();
        files.sort();
        files
    }

    /// Creates the folder.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| IoError { op: "creating", path: self.root.clone(), source: e }.into())
    }

    /// Writes JSON atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        self.write_json_if(path, value, &|| true)
    }

    /// Writes JSON atomically if `may` still allows it at the moment the file would appear
    /// ([`TrainError::LeaseLost`] when not).
    pub fn write_json_if<T: Serialize>(&self, path: &Path, value: &T, may: MayWrite<'_>) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| TrainError::Damaged { file: path.to_path_buf(), detail: e.to_string() })?;
        let written = write_atomic_if(path, |tmp| std::fs::write(tmp, &text), may).map_err(|e| match e {
            tfkd_io::atomic::AtomicError::Write(source) => {
                TrainError::Io(IoError { op: "writing", path: path.to_path_buf(), source })
            }
            tfkd_io::atomic::AtomicError::Io(e) => TrainError::Io(e),
        })?;
        committed(written)
    }

    /// Reads JSON; `None` when the file is absent, [`TrainError::Damaged`] when it does not parse.
    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| TrainError::Damaged { file: path.to_path_buf(), detail: format!("does not parse: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IoError { op: "reading", path: path.to_path_buf(), source: e }.into()),
        }
    }

    /// Saves a checkpoint of one member after `progress.steps` steps: tensors, then the JSON with their
    /// checksum; keeps the newest [`KEEP`] checkpoints. `model` and `momentum` are the member's slices.
    /// `may` is asked before each file appears and before each old checkpoint is removed: a holder that lost
    /// its lease meanwhile writes and removes nothing more ([`TrainError::LeaseLost`]).
    pub fn save_checkpoint(
        &self,
        model: &[(String, Tensor)],
        momentum: &BTreeMap<String, Tensor>,
        progress: &mut Progress,
        may: MayWrite<'_>,
    ) -> Result<()> {
        let mut named: Vec<(String, Tensor)> =
            model.iter().map(|(k, v)| (format!("model.{k}"), v.contiguous())).collect();
        named.extend(momentum.iter().map(|(k, v)| (format!("momentum.{k}"), v.contiguous())));
        let file = self.state_tensors(progress.steps);
        let written = write_atomic_if(&file, |tmp| Tensor::write_safetensors(&named, tmp), may)
            .map_err(|e| TrainError::checkpoint_write(&file, e))?;
        committed(written)?;
        progress.tensors_sha256 =
            sha256_file(&file).map_err(|e| IoError { op: "reading", path: file.clone(), source: e })?;
        self.write_json_if(&self.state_json(progress.steps), progress, may)?;
        for step in self.checkpoint_steps().into_iter().skip(KEEP) {
            committed(may())?;
            self.remove_checkpoint(step);
        }
        Ok(())
    }

    /// The newest usable checkpoint of `run_id` and the damaged newer files, which are removed (they would
    /// be overwritten by the resumed run anyway). `None` when there is nothing to resume from.
    ///
    /// A checkpoint older than the newest may predate a change of `best.safetensors` (a later epoch was
    /// selected, then its checkpoint was lost). Its best weights are then restored from the checkpoint itself
    /// when it was taken at the end of its selected epoch; otherwise it cannot be resumed from and the next
    /// older one is tried.
    pub fn resume(&self, run_id: &str) -> Result<(Option<Checkpoint>, Vec<Damage>)> {
        let mut damaged = Vec::new();
        for step in self.checkpoint_steps() {
            let progress = match self.check_checkpoint(step) {
                Ok(p) => p,
                Err(d) => {
                    damaged.push(d);
                    self.remove_checkpoint(step);
                    continue;
                }
            };
            let file = self.state_tensors(step);
            if progress.run_id != run_id {
                return Err(TrainError::Damaged {
                    file,
                    detail: format!("belongs to run {}, not {run_id}", progress.run_id),
                });
            }
            let tensors = Tensor::read_safetensors(&file)
                .map_err(|e| TrainError::Damaged { file: file.clone(), detail: e.to_string() })?;
            let mut model = Vec::new();
            let mut momentum = BTreeMap::new();
            for (name, t) in tensors {
                if let Some(k) = name.strip_prefix("model.") {
                    model.push((k.to_string(), t));
                } else if let Some(k) = name.strip_prefix("momentum.") {
                    momentum.insert(k.to_string(), t);
                }
            }
            model.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(want) = &progress.best_sha256 {
                if sha256_file(&self.best()).ok().as_ref() != Some(want)
                    && !self.restore_best(&progress, &model, want)?
                {
                    damaged.push(Damage {
                        file: self.best(),
                        detail: format!("holds a later epoch's weights than checkpoint state-{step} selected"),
                    });
                    self.remove_checkpoint(step);
                    continue;
                }
            }
            return Ok((Some(Checkpoint { progress, model, momentum }), damaged));
        }
        if !damaged.is_empty() {
            // Nothing to resume from: whatever best or snapshot files remain belong to the lost training.
            self.clear()?;
        }
        Ok((None, damaged))
    }

    /// Rewrites `best.safetensors` from a checkpoint taken at the end of its selected epoch; whether it could.
    fn restore_best(&self, progress: &Progress, model: &[(String, Tensor)], want: &str) -> Result<bool> {
        if progress.batches_done != 0 || progress.selected_epoch != Some(progress.epochs_done) {
            return Ok(false);
        }
        let best = self.best();
        write_atomic_with(&best, |tmp| Tensor::write_safetensors(model, tmp))
            .map_err(|e| TrainError::checkpoint_write(&best, e))?;
        Ok(sha256_file(&best).ok().as_deref() == Some(want))
    }

    fn remove_checkpoint(&self, step: u64) {
        let _ = std::fs::remove_file(self.state_json(step));
        let _ = std::fs::remove_file(self.state_tensors(step));
    }

    /// Saves a member's weights (a snapshot or the best weights) atomically; returns their sha256.
    pub fn save_weights(
        &self,
        vs: &VarStore,
        member: i64,
        members: i64,
        path: &Path,
        may: MayWrite<'_>,
    ) -> Result<String> {
        let written = write_atomic_if(path, |tmp| tfkd_models::member::save(vs, member, members, tmp), may)
            .map_err(|e| TrainError::checkpoint_write(path, e))?;
        committed(written)?;
        Ok(sha256_file(path).map_err(|e| IoError { op: "reading", path: path.to_path_buf(), source: e })?)
    }

    /// Removes every file of the folder but the lock (to retrain from scratch).
    pub fn clear(&self) -> Result<()> {
        for entry in std::fs::read_dir(&self.root).into_iter().flatten().flatten() {
            if entry.file_name() != "lock" {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| IoError { op: "removing", path, source: e })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<(String, Tensor)> {
        vec![("w".into(), Tensor::from_slice(&[1.0f32, 2.0, 3.0]))]
    }

    #[test]
    fn a_truncated_newest_checkpoint_falls_back_to_the_previous_one() {
        let home = tempfile::tempdir().unwrap();
        let dir = RunDir::new(home.path(), "r1");
        dir.create().unwrap();
        for steps in [4u64, 8, 12] {
            let mut p = Progress { steps, epochs_done: (steps / 4) as u32, ..Progress::fresh("r1") };
            dir.save_checkpoint(&tensors(), &BTreeMap::new(), &mut p, &|| true).unwrap();
        }
        assert_eq!(dir.checkpoint_steps(), vec![12, 8], "two are kept");
        let newest = dir.state_tensors(12);
        let bytes = std::fs::read(&newest).unwrap();
        std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
        match dir.state().unwrap() {
            RunState::Partial { progress, damaged } => {
                assert_eq!(progress.steps, 8);
                assert_eq!(damaged.len(), 1);
                assert!(damaged[0].to_string().contains("state-12.safetensors: checksum"), "{}", damaged[0]);
            }
            other => panic!("{other:?}"),
        }
        let (ck, damaged) = dir.resume("r1").unwrap();
        assert_eq!((ck.unwrap().progress.steps, damaged.len()), (8, 1));
        assert_eq!(dir.checkpoint_steps(), vec![8], "the damaged checkpoint is gone");
    }

    #[test]
    fn a_damaged_record_or_checkpoint_json_is_reported_not_an_error() {
        let home = tempfile::tempdir().unwrap();
        let dir = RunDir::new(home.path(), "r2");
        dir.create().unwrap();
        std::fs::write(dir.done(), "{\"run_id\": \"r2\", \"lab").unwrap();
        match dir.state().unwrap() {
            RunState::Damaged(d) => {
                assert!(d[0].file.ends_with("done.json") && d[0].detail.contains("does not parse"), "{d:?}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(dir.done()).unwrap();
        let mut p = Progress::fresh("r2");
        dir.save_checkpoint(&tensors(), &BTreeMap::new(), &mut p, &|| true).unwrap();
        std::fs::write(dir.state_json(0), "{").unwrap();
        assert!(matches!(dir.state().unwrap(), RunState::Damaged(d) if d[0].file.ends_with("state-0.json")));
    }
}
