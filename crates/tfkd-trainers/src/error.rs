//! The one error type of this crate.

use std::path::PathBuf;

/// Why a run could not be trained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The loss became NaN or infinite: the run stops and is marked failed.
    #[error("non-finite loss at epoch {epoch}, batch {batch} (step {step}): total {total}, ce {ce}, kl {kl:?}")]
    NonFinite {
        /// 1-based epoch.
        epoch: u32,
        /// 0-based batch within the epoch.
        batch: usize,
        /// Global optimisation step.
        step: u64,
        /// Total loss value.
        total: f64,
        /// Cross-entropy value.
        ce: f64,
        /// KL value, if any.
        kl: Option<f64>,
    },
    /// A setting the trainer cannot honour.
    #[error("{0}")]
    Config(String),
    /// A checkpoint could not be read or does not match the run.
    #[error("checkpoint {}: {detail}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// I/O on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Data problems.
    #[error(transparent)]
    Data(#[from] tfkd_datasets::DataError),
    /// Loss problems.
    #[error(transparent)]
    Loss(#[from] tfkd_losses::LossError),
    /// Model problems.
    #[error(transparent)]
    Model(#[from] tfkd_models::CheckpointError),
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A run trained in a worker process failed; the text is what the worker said.
    #[error("{0}")]
    Worker(String),
}

/// Result alias of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}
