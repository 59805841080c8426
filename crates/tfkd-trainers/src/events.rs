//! What the training loop reports; the loop never prints, observers (progress bars, logs) do.

use crate::metrics::{EpochMetrics, Summary};

/// A training event.
#[derive(Debug)]
pub enum Event<'a> {
    /// A run starts (or resumes after `resumed_epochs`).
    RunStart {
        /// `id@seed`.
        label: &'a str,
        /// Run id.
        run_id: &'a str,
        /// Total epochs.
        epochs: u32,
        /// Batches per epoch.
        batches: usize,
        /// Epochs already done (resume).
        resumed_epochs: u32,
    },
    /// A training batch finished.
    Batch {
        /// 1-based epoch.
        epoch: u32,
        /// 0-based batch.
        batch: usize,
        /// Running mean loss of the epoch.
        loss: f64,
        /// Running training accuracy of the epoch.
        acc: f64,
        /// Training images per second so far in the epoch.
        img_per_s: f64,
    },
    /// An epoch finished and was checkpointed.
    Epoch(&'a EpochMetrics),
    /// A run finished.
    RunEnd {
        /// `id@seed`.
        label: &'a str,
        /// Its accuracies.
        summary: &'a Summary,
    },
    /// A run was already finished earlier: nothing trained.
    RunCached {
        /// `id@seed`.
        label: &'a str,
        /// Run id.
        run_id: &'a str,
        /// Its accuracies.
        summary: &'a Summary,
    },
}

/// Receives events.
pub trait Observer {
    /// Handles one event.
    fn event(&mut self, event: &Event<'_>);
}

/// Ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&mut self, _: &Event<'_>) {}
}
