//! How `run` and `reproduce` are asked to train: the executor and its settings.

use std::path::PathBuf;

/// Where training happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Executor {
    /// This machine (worker processes with `--jobs`).
    #[default]
    Local,
    /// A Slurm cluster: job arrays submitted with sbatch from this (login) node.
    Slurm,
}

impl std::str::FromStr for Executor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Executor::Local),
            "slurm" => Ok(Executor::Slurm),
            other => Err(format!("unknown executor '{other}': expected local or slurm")),
        }
    }
}

impl std::fmt::Display for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Executor::Local => "local",
            Executor::Slurm => "slurm",
        })
    }
}

/// How `run`/`reproduce` train a target (the spec, profile and run selection are already in the experiment).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The `--set KEY=VALUE` overrides, passed on to worker processes and cluster tasks.
    pub sets: Vec<String>,
    /// Device: auto, cpu, cuda or cuda:N.
    pub device: String,
    /// Jobs trained at once (`None`: cores ÷ `train.threads` on the CPU, 1 on a GPU).
    pub jobs: Option<u64>,
    /// Where to train.
    pub executor: Executor,
    /// Slurm: print the scripts without submitting.
    pub dry_run: bool,
    /// Slurm: wait for the tasks, then collect.
    pub wait: bool,
    /// Train even when the estimate is long, without asking.
    pub yes: bool,
    /// Slurm: the cluster's settings file.
    pub slurm_config: Option<PathBuf>,
}
