//! Running sums of training batches, kept on the device; what they become is in [`tfkd_records::metrics`].

use tch::{Kind, Tensor};
pub use tfkd_records::metrics::{Calibration, EpochMetrics, EpochSoFar, Summary};

/// Running sums of one member's training batches. Each batch's terms are added on the device; they are
/// read back every `every` batches (1 on the CPU, so every value is as if read at once), because on a GPU
/// a read waits for all queued work and reading every batch would stall the queue.
#[derive(Debug)]
pub struct Tally {
    every: usize,
    /// Σ loss·n, Σ ce·n (f64) and Σ correct (i64) since the last read.
    pending: Option<(Tensor, Tensor, Tensor)>,
    /// Batches added since the last read.
    unread: usize,
    /// Σ loss·n read so far.
    pub loss_sum: f64,
    /// Σ cross-entropy·n read so far.
    pub ce_sum: f64,
    /// Correct predictions read so far.
    pub correct: i64,
    /// Images added (known without a read).
    pub seen: i64,
}

impl Tally {
    /// An empty tally read every `every` batches.
    #[must_use]
    pub fn new(every: usize) -> Self {
        Tally { every: every.max(1), pending: None, unread: 0, loss_sum: 0.0, ce_sum: 0.0, correct: 0, seen: 0 }
    }

    /// A tally that continues an epoch checkpointed mid-way.
    #[must_use]
    pub fn resumed(every: usize, so_far: &EpochSoFar) -> Self {
        Tally {
            loss_sum: so_far.loss_sum,
            ce_sum: so_far.ce_sum,
            correct: so_far.correct,
            seen: so_far.seen,
            ..Tally::new(every)
        }
    }

    /// Adds a batch's mean loss and cross-entropy (scalars), its logits and labels; says whether a read is due
    /// (every `every` batches, and at the epoch's last batch `last`).
    pub fn add(
        &mut self,
        loss: &Tensor,
        ce: &Tensor,
        logits: &Tensor,
        labels: &Tensor,
        last: bool,
    ) -> tch::Result<bool> {
        let n = labels.size()[0];
        let batch = (
            loss.f_detach()?.f_to_kind(Kind::Double)?.f_mul_scalar(n as f64)?,
            ce.f_detach()?.f_to_kind(Kind::Double)?.f_mul_scalar(n as f64)?,
            logits.f_argmax(1, false)?.f_eq_tensor(labels)?.f_sum(Kind::Int64)?,
        );
        self.pending = Some(match self.pending.take() {
            None => batch,
            Some((l, c, k)) => (l.f_add(&batch.0)?, c.f_add(&batch.1)?, k.f_add(&batch.2)?),
        });
        self.seen += n;
        self.unread += 1;
        Ok(last || self.unread >= self.every)
    }

    /// Reads the pending sums into the host totals; returns false if the loss became NaN or infinite.
    pub fn read(&mut self) -> tch::Result<bool> {
        if let Some((l, c, k)) = self.pending.take() {
            let loss = l.f_double_value(&[])?;
            self.loss_sum += loss;
            self.ce_sum += c.f_double_value(&[])?;
            self.correct += k.f_int64_value(&[])?;
            self.unread = 0;
            return Ok(loss.is_finite());
        }
        Ok(true)
    }

    /// Whether sums are waiting to be read.
    #[must_use]
    pub fn unread(&self) -> bool {
        self.pending.is_some()
    }
}
