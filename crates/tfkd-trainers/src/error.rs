//! The one error type of this crate. Each variant displays its own message and links its cause as the
//! `source`, so a message is never repeated; [`tfkd_io::chain`] gives the whole reason as one line.

use std::path::{Path, PathBuf};

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
    /// bf16 asked for on a device without it.
    #[error("train.precision bf16 is for CUDA devices only; use fp32 on the CPU")]
    Bf16OnCpu,
    /// A teacher run did not reach the accuracy a snapshot asks for.
    #[error("teacher {teacher} never reached test accuracy {wanted}; its best was {best}")]
    SnapshotAccuracy {
        /// The teacher run's label.
        teacher: String,
        /// The requested accuracy.
        wanted: f64,
        /// The best it reached.
        best: f64,
    },
    /// A teacher run kept no weights of the epoch a student asks for.
    #[error("teacher {teacher} kept no snapshot of epoch {epoch}")]
    MissingSnapshot {
        /// The teacher run's label.
        teacher: String,
        /// The epoch.
        epoch: u32,
    },
    /// A teacher given by its weights file (`teacher: { weights: … }`) cannot be used.
    #[error("teacher weights {name}: {detail}")]
    TeacherWeights {
        /// The file as the spec names it.
        name: String,
        /// What is wrong, and where tfkd looked.
        detail: String,
    },
    /// A student's teacher run has not finished.
    #[error("teacher run {0} has not finished")]
    TeacherNotDone(String),
    /// The runs of one array do not share what an array needs (architecture, batch size, …).
    #[error("runs {0} cannot train as one array: {1}")]
    NotAnArray(String, String),
    /// No planned run has this id (a worker was asked for a run the spec does not plan).
    #[error("{target}: no planned run has id {run_id}")]
    UnknownRun {
        /// The target.
        target: String,
        /// The id asked for.
        run_id: String,
    },
    /// A file of a run folder cannot be used: it does not parse or does not match its checksum.
    #[error("{}: {detail}", file.display())]
    Damaged {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A checkpoint or weights file could not be written.
    #[error("writing checkpoint {}", path.display())]
    CheckpointWrite {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Training stopped on request (SIGINT, SIGTERM, SIGUSR1) or because another process took the run's
    /// lease over; the last checkpoint is kept and the same command resumes it.
    #[error("interrupted {at}; the checkpoint there is kept and the same command resumes it")]
    Interrupted {
        /// Where (epoch and batch).
        at: String,
    },
    /// Another process took the run's lease over after this one stalled past the lease timeout (frozen,
    /// suspended): this process wrote nothing more into the run's folder and leaves the run to the other.
    #[error(
        "taken over by {owner} after this process stalled past the lease timeout; it wrote nothing more into the \
         run's folder and leaves the run to that process"
    )]
    LeaseLost {
        /// The lease's holder now.
        owner: String,
    },
    /// I/O on a named file.
    #[error(transparent)]
    Io(#[from] tfkd_io::IoError),
    /// Data problems.
    #[error(transparent)]
    Data(#[from] tfkd_datasets::DataError),
    /// Loss problems.
    #[error(transparent)]
    Loss(#[from] tfkd_losses::LossError),
    /// Model problems.
    #[error(transparent)]
    Model(#[from] tfkd_models::CheckpointError),
    /// A model could not be built.
    #[error(transparent)]
    Build(#[from] tfkd_models::BuildError),
    /// libtorch failed.
    #[error("libtorch")]
    Torch(#[from] tch::TchError),
    /// A run trained in a worker process failed; the text is what the worker said.
    #[error("{0}")]
    Worker(String),
}

impl TrainError {
    /// A failed write of a checkpoint file, from [`tfkd_io::write_atomic_with`]'s error.
    pub fn checkpoint_write<E: std::error::Error + Send + Sync + 'static>(
        path: &Path,
        err: tfkd_io::atomic::AtomicError<E>,
    ) -> Self {
        match err {
            tfkd_io::atomic::AtomicError::Io(e) => TrainError::Io(e),
            tfkd_io::atomic::AtomicError::Write(e) => {
                TrainError::CheckpointWrite { path: path.to_path_buf(), source: Box::new(e) }
            }
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
