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

/// A command-line flag of `run`/`reproduce` that only some executors take
/// ([`Executor::flags`](crate::executor::Executor::flags)); `train` refuses one the chosen executor does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `--dry-run`: say what would be submitted, submit nothing.
    DryRun,
    /// `--wait`: wait for what was submitted, then collect it.
    Wait,
    /// `--slurm-config FILE`: the cluster's settings file.
    SlurmConfig,
}

impl Flag {
    /// As it is written on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Flag::DryRun => "--dry-run",
            Flag::Wait => "--wait",
            Flag::SlurmConfig => "--slurm-config",
        }
    }
}

/// The values of the executor-specific flags ([`Flag`]) of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--wait`.
    pub wait: bool,
    /// `--slurm-config`.
    pub slurm_config: Option<PathBuf>,
}

impl Flags {
    /// The flags given.
    #[must_use]
    pub fn given(&self) -> Vec<Flag> {
        [(self.dry_run, Flag::DryRun), (self.wait, Flag::Wait), (self.slurm_config.is_some(), Flag::SlurmConfig)]
            .into_iter()
            .filter_map(|(on, f)| on.then_some(f))
            .collect()
    }
}

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
    /// The flags only some executors take (checked against the executor's [`Flag`]s by `train`).
    pub flags: Flags,
    /// Train even when the estimate is long, without asking.
    pub yes: bool,
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
