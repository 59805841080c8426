//! The end of an epoch for an array's members: evaluation folded into each member's metrics, the selected
//! epoch's weights, the snapshots students asked for, and a checksummed checkpoint — each write only while the
//! member's lease is its own.

use std::time::Instant;

use tfkd_models::member;

use super::{Array, Slot};
use crate::{
    error::{Result, TrainError},
    events::{Event, Observer},
    metrics::{EpochMetrics, Summary},
    state::EpochSoFar,
};

impl Array<'_> {
    /// Evaluation, selection, weights and checkpoint of every live member after `epoch`.
    pub(super) fn end_epoch(&mut self, epoch: u32, sums: &[EpochSoFar], obs: &mut dyn Observer) -> Result<()> {
        let eval_start = Instant::now();
        let val = if self.splits.val.is_empty() { None } else { Some(self.evaluate(&self.splits.val.clone(), 0)?) };
        let test = self.evaluate(&self.splits.test.clone(), 1)?;
        let count = self.members();
        for a in self.live().collect::<Vec<_>>() {
            let s = &mut self.slots[a];
            if !s.guard() {
                continue;
            }
            s.progress.epoch_so_far = None;
            let sum = sums[a];
            let seen = sum.seen.max(1) as f64;
            let t = test[a].clone().expect("every live member is evaluated");
            let v = val.as_ref().and_then(|v| v[a].clone());
            let seconds = sum.seconds + eval_start.elapsed().as_secs_f64();
            s.progress.metrics.push(EpochMetrics {
                epoch: epoch + 1,
                lr: sum.lr,
                train_loss: sum.loss_sum / seen,
                train_ce: sum.ce_sum / seen,
                train_acc: sum.correct as f64 / seen,
                val_acc: v.as_ref().map(|v| v.accuracy),
                test_acc: t.accuracy,
                test_loss: t.nll,
                test: Some(t),
                val: v,
                seconds,
                train_img_per_s: sum.seen as f64 / sum.seconds.max(1e-9),
            });
            s.progress.epochs_done = epoch + 1;
            s.progress.batches_done = 0;
            match self.save_epoch(a, epoch, count) {
                Ok(()) => {}
                Err(TrainError::LeaseLost { .. }) => {
                    self.slots[a].lose();
                    continue;
                }
                Err(e) => return Err(e),
            }
            let s = &self.slots[a];
            obs.event(&Event::Epoch {
                label: s.label.clone(),
                metrics: s.progress.metrics.last().expect("pushed").clone(),
            });
        }
        Ok(())
    }

    /// The end-of-epoch files of member `a`: its best weights when a new epoch is selected, a snapshot its
    /// students asked for, and its checkpoint; each only while its lease is its own.
    fn save_epoch(&mut self, a: usize, epoch: u32, count: i64) -> Result<()> {
        let s = &mut self.slots[a];
        let summary = Summary::of(&s.progress.metrics).expect("one epoch done");
        let lease = &s.lease;
        let may = || lease.still_ours();
        if s.progress.selected_epoch != Some(summary.selected_epoch()) {
            let sha = s.dir.save_weights(&self.step.vs, a as i64, count, &s.dir.best(), &may)?;
            s.weights.insert("best.safetensors".into(), sha.clone());
            s.progress.best_sha256 = Some(sha);
            s.progress.selected_epoch = Some(summary.selected_epoch());
        }
        if s.run.keep_all_epochs || s.run.keep_epochs.contains(&(epoch + 1)) {
            let path = s.dir.snapshot(epoch + 1);
            let sha = s.dir.save_weights(&self.step.vs, a as i64, count, &path, &may)?;
            s.weights.insert(format!("epoch-{}.safetensors", epoch + 1), sha);
        }
        self.checkpoint(a)
    }

    pub(super) fn checkpoint(&mut self, a: usize) -> Result<()> {
        let count = self.members();
        let model = member::weights(&self.step.vs, a as i64, count);
        let momentum = self.step.sgd.member_buffers(a as i64);
        let Slot { dir, lease, progress, .. } = &mut self.slots[a];
        progress.tensors_sha256.clear();
        dir.save_checkpoint(&model, &momentum, progress, &|| lease.still_ours())
    }
}
