//! What a run leaves behind, typed once: trainers write these types, the report and the command line read
//! them, and worker processes stream the events between them. No libtorch, so the report crate (and anything
//! that only reads results) builds without it.
//!
//! * [`RunRecord`]: a finished run — its resolved settings, per-epoch metrics, summary, provenance, weights;
//! * [`metrics`]: one epoch's metrics, the summary's three accuracies (with the official `>=` tie rule), and
//!   the running sums a mid-epoch checkpoint keeps;
//! * [`provenance`]: code version, commit, libtorch, device, threads, CPU and its instruction sets, times;
//! * [`events`]: what training reports while it runs (progress, ends, repairs), as JSON lines between
//!   processes.

pub mod events;
pub mod metrics;
pub mod provenance;
mod record;

pub use events::{Event, JsonLines, Observer, Silent};
pub use metrics::{EpochMetrics, EpochSoFar, Summary};
pub use provenance::Provenance;
pub use record::RunRecord;
