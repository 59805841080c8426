//! Errors of the Slurm executor.

use std::path::PathBuf;

/// What can go wrong talking to Slurm or reading its settings.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A setting is invalid.
    #[error("executor.slurm.{key}: {message}")]
    Setting {
        /// The key, e.g. `time`.
        key: &'static str,
        /// Why.
        message: String,
    },
    /// The `executor.slurm` settings a spec or `--set` gave are not Slurm's settings.
    #[error("executor.slurm ({origin}): {message}")]
    Section {
        /// Where they came from.
        origin: String,
        /// Why.
        message: String,
    },
    /// The cluster's config file could not be read or parsed.
    #[error("Slurm config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A Slurm command could not be started (not installed, not on PATH).
    #[error("cannot run `{command}` (is Slurm installed here and on PATH?)")]
    Missing {
        /// The command.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// A Slurm command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// A Slurm command printed something this crate cannot read.
    #[error("`{command}` printed {output:?}, which is not {expected}")]
    Unreadable {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// This crate's result.
pub type Result<T, E = SlurmError> = std::result::Result<T, E>;
