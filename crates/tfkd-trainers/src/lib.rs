//! Training runs of the study and the executor of a spec's run graph.
//!
//! * [`array::train`]: runs trained as one fused array (a single run is an array of one) — SGD exactly as
//!   PyTorch's with per-member settings (own implementation, so momentum buffers can be checkpointed),
//!   the official learning-rate schedule, teacher logits under `no_grad` in eval mode per augmented batch,
//!   evaluation with calibration every epoch, NaN detection per member, checksummed atomic checkpoints every
//!   epoch (and between batches when interrupted), and a resume that ends bit-identical to an uninterrupted
//!   run on the same device and thread count.
//! * [`engine::execute`]: a whole experiment, teachers first, finished runs never trained twice, damaged
//!   run folders repaired, each run leased to one process at a time; jobs train in this process or in
//!   worker processes.
//! * The loop reports through [`events::Observer`] and never prints.

pub mod array;
pub mod autocast;
pub mod engine;
mod error;
pub mod events;
pub mod fault;
pub mod metrics;
pub mod prepare;
pub mod provenance;
pub mod run;
pub mod schedule;
pub mod sgd;
pub mod state;
pub mod step;
pub mod teacher;

pub use engine::{execute, Outcome};
pub use error::{Result, TrainError};
pub use events::{Event, JsonLines, Observer, Silent};
pub use metrics::{EpochMetrics, Summary};
pub use run::{Context, RunRecord};
