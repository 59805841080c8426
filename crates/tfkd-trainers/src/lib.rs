//! Training runs of the study and the executor of a spec's run graph.
//!
//! * [`run::train`]: one run — SGD exactly as PyTorch's (own implementation, so momentum buffers can be
//!   checkpointed), the official learning-rate schedule, teacher logits under `no_grad` in eval mode per
//!   augmented batch, evaluation every epoch, NaN detection, atomic checkpoints every epoch and a resume
//!   that ends bit-identical to an uninterrupted run on the same device and thread count.
//! * [`engine::execute`]: a whole experiment, teachers first, finished runs never trained twice; runs
//!   train one after another in process, or several at once through an [`engine::Parallel`] trainer.
//! * The loop reports through [`events::Observer`] and never prints.

pub mod autocast;
pub mod engine;
mod error;
pub mod events;
pub mod fault;
pub mod metrics;
pub mod prepare;
pub mod provenance;
pub mod run;
pub mod sgd;
pub mod state;

pub use engine::{execute, Outcome, Parallel};
pub use error::{Result, TrainError};
pub use events::{Event, JsonLines, Observer, Silent};
pub use metrics::{EpochMetrics, Summary};
pub use run::{Context, RunRecord};
