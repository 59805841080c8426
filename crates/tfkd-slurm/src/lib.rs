//! Slurm as tfkd's cluster executor: no scheduler of our own, only what Slurm needs to run a target's run
//! graph and what tfkd needs to know back.
//!
//! * [`options`]: the job settings (partition, account, time, GPUs, …) from the spec, its profile, the
//!   cluster's `slurm.yaml` and `--set slurm.*`, validated before anything is submitted.
//! * [`waves`]: the runs to submit, as Slurm tasks (one run, or one fused array of runs), grouped into job
//!   arrays by wave and by the teacher tasks they wait for (`--dependency=afterok:A_T`).
//! * [`script`]: the sbatch script of one job array. Each task runs the worker (`tfkd train-one`) in the
//!   background and traps SIGTERM/SIGUSR1 (preemption, `scancel --signal`, the time limit's notice): the
//!   worker checkpoints, and the task requeues itself to resume bit-identically from that checkpoint.
//! * [`cluster`]: `sbatch`, `scontrol show job`, `sacct` and `scancel`, with parsers for their output.
//! * [`Submitted`]: what a run folder records of its Slurm job (`slurm.json`), so a run is never submitted
//!   twice while its job lives and `tfkd status` can show Slurm's state beside the folder's.
//!
//! The crate knows nothing of libtorch or run folders: the `tfkd` binary gives it run ids and labels.

pub mod cluster;
mod error;
pub mod options;
pub mod script;
pub mod waves;

pub use cluster::{Cluster, JobRef, JobState};
pub use error::{Result, SlurmError};
pub use options::{SlurmOptions, SlurmPatch};
pub use script::Worker;
pub use waves::{ArrayPlan, Dep, Task};

use serde::{Deserialize, Serialize};

/// What a run folder records of the Slurm task that trains it (`slurm.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// The task: array job id and task id.
    pub job: JobRef,
    /// The sbatch script.
    pub script: String,
    /// The task's log (stdout and stderr of the worker).
    pub log: String,
    /// When it was submitted (UTC, RFC 3339).
    pub submitted: String,
    /// Target and profile that submitted it.
    pub target: String,
}
