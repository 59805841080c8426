//! How `run` and `reproduce` are asked to train: the executor, by name, and its settings.

use std::path::PathBuf;

/// The executors `--executor` selects, by name (`crate::executors::implementation` gives each one's
/// [`Executor`](crate::executor::Executor)); `shell` is hidden: a minimal batch system that proves the seam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutorName {
    /// This machine (worker processes with `--jobs`).
    #[default]
    Local,
    /// A Slurm cluster: job arrays submitted with sbatch from this (login) node.
    Slurm,
    /// Each job a `sh` script run in a folder of its own, one after another (`crate::shell`).
    Shell,
}

impl ExecutorName {
    /// Every executor, in the order `--executor` lists them.
    pub const ALL: [ExecutorName; 3] = [ExecutorName::Local, ExecutorName::Slurm, ExecutorName::Shell];

    /// Its name, as `--executor` takes it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ExecutorName::Local => "local",
            ExecutorName::Slurm => "slurm",
            ExecutorName::Shell => "shell",
        }
    }

    /// Whether `--help` lists it.
    #[must_use]
    pub fn listed(self) -> bool {
        self != ExecutorName::Shell
    }
}

impl std::str::FromStr for ExecutorName {
    type Err = UnknownExecutor;

    fn from_str(s: &str) -> Result<Self, UnknownExecutor> {
        ExecutorName::ALL.into_iter().find(|e| e.name() == s).ok_or_else(|| UnknownExecutor(s.to_string()))
    }
}

impl std::fmt::Display for ExecutorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An `--executor` value that names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownExecutor(pub String);

impl std::fmt::Display for UnknownExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown executor '{}': expected local or slurm", self.0)
    }
}

impl std::error::Error for UnknownExecutor {}

/// How `run`/`reproduce` train a target (the spec, profile and run selection are already in the experiment).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The `--set KEY=VALUE` overrides, passed on to worker processes and cluster tasks.
    pub sets: Vec<String>,
    /// Device.
    pub device: tfkd_spec::names::DeviceChoice,
    /// Jobs trained at once (`None`: cores ÷ `train.threads` on the CPU, 1 on a GPU).
    pub jobs: Option<u64>,
    /// Where to train.
    pub executor: ExecutorName,
    /// Slurm: print the scripts without submitting.
    pub dry_run: bool,
    /// Slurm: wait for the tasks, then collect.
    pub wait: bool,
    /// Train even when the estimate is long, without asking.
    pub yes: bool,
    /// Slurm: the cluster's settings file.
    pub slurm_config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name parses to its executor and back; an unknown one says what is expected.
    #[test]
    fn names_round_trip() {
        for e in ExecutorName::ALL {
            assert_eq!(e.name().parse::<ExecutorName>().unwrap(), e);
        }
        let err = "ray".parse::<ExecutorName>().unwrap_err().to_string();
        assert_eq!(err, "unknown executor 'ray': expected local or slurm");
    }
}
