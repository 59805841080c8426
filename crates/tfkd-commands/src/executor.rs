//! Where a target's runs train: the [`Executor`] trait (its implementations: [`Local`] here,
//! [`crate::slurm::Slurm`], [`crate::shell::Shell`]; [`crate::executors`] maps the CLI's
//! [`ExecutorName`](crate::options::ExecutorName) to them).
//!
//! An executor is handed a target and brings what is left of its plan toward an end — training it here,
//! submitting it to Slurm, running it through a batch system — and says whether every run has ended. Then
//! `run`/`reproduce` collect the records here, training nothing more ([`crate::train::train`]). Every executor
//! starts the same worker command line ([`crate::worker::WorkerJob`]) against the same run folders, so what a
//! run computes does not depend on where it ran; `tfkd status` asks every executor what it knows of each run
//! ([`crate::executors::columns`]). Adding one is a module with an `impl Executor` and a variant of
//! [`ExecutorName`](crate::options::ExecutorName) with its arm in [`crate::executors::implementation`]; the
//! command-line flags it takes beyond the common ones it declares ([`Executor::flags`]), and `train` refuses
//! them with any other executor.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{atomic::AtomicBool, Arc},
};

use anyhow::Context as _;
use tfkd_io::paths;
use tfkd_spec::Experiment;
use tfkd_trainers::{engine::Plan, Observer};

use crate::options::{Flag, RunOptions};

/// What a pass of an executor left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Every run has finished or failed: the records can be collected.
    Ended,
    /// Runs are still queued or running elsewhere (or nothing was started: a dry run); the same command
    /// collects them later.
    Waiting,
}

/// An implementation of where runs train.
pub trait Executor: Sync {
    /// Its name, as `--executor` takes it.
    fn name(&self) -> &'static str;

    /// Trains or hands out what is left of `exp`'s plan, stopping early when `interrupt` is set.
    /// Messages for the person running tfkd go to `obs` as notes (a dry run's scripts as output).
    fn advance(
        &self,
        exp: &Experiment,
        opts: &RunOptions,
        interrupt: &Arc<AtomicBool>,
        obs: &mut dyn Observer,
    ) -> anyhow::Result<Pass>;

    /// The executor-specific command-line flags it takes (none by default); `train` refuses the others.
    fn flags(&self) -> &'static [Flag] {
        &[]
    }

    /// Checks the settings `exp` carries for this executor (`executor: { NAME: … }` in the spec, its profile
    /// and `--set executor.NAME.*`), when the spec is loaded, whichever executor then runs it. The default:
    /// an executor without settings refuses any.
    fn check_settings(&self, exp: &Experiment) -> anyhow::Result<()> {
        match exp.executor.of(self.name()) {
            [serde_yaml::Value::Null, serde_yaml::Value::Null] => Ok(()),
            _ => anyhow::bail!("executor.{}: the {} executor takes no settings", self.name(), self.name()),
        }
    }

    /// What this executor knows of the runs of `plan` it was given, by run id (a scheduler's job state), for
    /// `tfkd status`; `None` when it was given none.
    fn column(&self, plan: &Plan) -> Option<BTreeMap<String, String>>;
}

/// This machine: nothing to hand out — the collection step trains what is left here, in this process or in
/// supervised worker processes with `--jobs` (the engine's [`Launch`](tfkd_trainers::engine::Launch) seam).
#[derive(Debug)]
pub struct Local;

impl Executor for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn advance(
        &self,
        _: &Experiment,
        _: &RunOptions,
        _: &Arc<AtomicBool>,
        _: &mut dyn Observer,
    ) -> anyhow::Result<Pass> {
        Ok(Pass::Ended)
    }

    fn column(&self, _: &Plan) -> Option<BTreeMap<String, String>> {
        None
    }
}

/// `p` as an absolute path, created first (a batch job's working folder is not this one).
pub(crate) fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    p.canonicalize().with_context(|| format!("resolving {}", p.display()))
}

/// The environment of a job started elsewhere (a batch script, a cluster task): tfkd's folders as absolute
/// paths (`cache` is the cache folder, already absolute), then `own` settings, then this process's other tfkd
/// settings and libtorch's location as they are here (sorted).
pub(crate) fn job_env(cache: &Path, own: Vec<(String, String)>) -> anyhow::Result<Vec<(String, String)>> {
    let text = |p: PathBuf| p.to_string_lossy().into_owned();
    let mut env = vec![
        ("TFKD_CACHE_DIR".to_string(), text(cache.to_path_buf())),
        ("TFKD_DATA_DIR".into(), text(absolute(&paths::data_dir())?)),
        ("TFKD_RESULTS_DIR".into(), text(absolute(&paths::results_dir())?)),
        ("TFKD_EXPERIMENTS_DIR".into(), text(absolute(&paths::experiments_dir())?)),
    ];
    env.extend(own);
    let mut inherited: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("TFKD_") && !env.iter().any(|(e, _)| e == k))
                || matches!(k.as_str(), "LD_LIBRARY_PATH" | "LIBTORCH")
        })
        .collect();
    inherited.sort();
    env.extend(inherited);
    Ok(env)
}
