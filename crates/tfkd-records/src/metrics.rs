//! What a run records: one row per epoch, a summary with the three accuracies a reader may want, and the
//! running sums a checkpoint keeps mid-epoch.

use serde::{Deserialize, Serialize};
pub use tfkd_analysis::calibration::Calibration;

/// The running sums of an epoch interrupted mid-way (a checkpoint between two batches).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct EpochSoFar {
    /// Σ loss·n over the finished batches.
    pub loss_sum: f64,
    /// Σ cross-entropy·n.
    pub ce_sum: f64,
    /// Correct training predictions.
    pub correct: i64,
    /// Images seen.
    pub seen: i64,
    /// Wall seconds spent training this epoch before the checkpoint.
    pub seconds: f64,
    /// Learning rate of the last step.
    pub lr: f64,
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: u32,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Mean training loss (the method's total loss).
    pub train_loss: f64,
    /// Mean hard-label cross-entropy on the training batches.
    pub train_ce: f64,
    /// Training accuracy on augmented batches (train mode).
    pub train_acc: f64,
    /// Validation accuracy, when a validation split exists.
    pub val_acc: Option<f64>,
    /// Test accuracy.
    pub test_acc: f64,
    /// Test cross-entropy (the mean negative log-likelihood of the true label).
    pub test_loss: f64,
    /// Test calibration and confidence (absent in records from before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Calibration>,
    /// Validation calibration and confidence, when a validation split exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<Calibration>,
    /// Wall seconds of the epoch (training and evaluation).
    pub seconds: f64,
    /// Training images per second.
    pub train_img_per_s: f64,
}

/// The accuracies a run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Test accuracy after the last epoch.
    pub last_test_acc: f64,
    /// Highest test accuracy over all epochs — what the official code reported (selection on the test set).
    pub best_test_acc: f64,
    /// Epoch of `best_test_acc` (the later one on ties, as the official `>=`).
    pub best_test_epoch: u32,
    /// Test accuracy at the epoch with the best validation accuracy (proper model selection), if a validation split exists.
    pub test_at_best_val: Option<f64>,
    /// Epoch of the best validation accuracy (the later one on ties).
    pub best_val_epoch: Option<u32>,
    /// Epochs trained.
    pub epochs: u32,
}

impl Summary {
    /// Summarises per-epoch metrics. Ties go to the **later** epoch, as the official code's
    /// `is_best = val_acc >= best_val_acc` (train_kd.py) overwrites `best.pth.tar` on a tie — which matters
    /// because the selected epoch's weights are what a student learns from.
    #[must_use]
    pub fn of(metrics: &[EpochMetrics]) -> Option<Summary> {
        let last = metrics.last()?;
        let best_test = metrics.iter().fold(&metrics[0], |b, m| if m.test_acc >= b.test_acc { m } else { b });
        let best_val = metrics.iter().filter(|m| m.val_acc.is_some()).fold(None::<&EpochMetrics>, |b, m| match b {
            Some(b) if b.val_acc > m.val_acc => Some(b),
            _ => Some(m),
        });
        Some(Summary {
            last_test_acc: last.test_acc,
            best_test_acc: best_test.test_acc,
            best_test_epoch: best_test.epoch,
            test_at_best_val: best_val.map(|m| m.test_acc),
            best_val_epoch: best_val.map(|m| m.epoch),
            epochs: last.epoch,
        })
    }

    /// The epoch whose weights serve as this run's model when it teaches: best on validation if there is a
    /// validation split, else best on test (the official `best.pth.tar`).
    #[must_use]
    pub fn selected_epoch(&self) -> u32 {
        self.best_val_epoch.unwrap_or(self.best_test_epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(epoch: u32, val: Option<f64>, test: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            lr: 0.1,
            train_loss: 1.0,
            train_ce: 1.0,
            train_acc: 0.5,
            val_acc: val,
            test_acc: test,
            test_loss: 1.0,
            test: None,
            val: None,
            seconds: 1.0,
            train_img_per_s: 1.0,
        }
    }

    /// The official rule (`>=`, train_kd.py): on a tie the later epoch is selected.
    #[test]
    fn ties_go_to_the_later_epoch_as_in_the_official_code() {
        let s =
            Summary::of(&[m(1, Some(0.3), 0.31), m(2, Some(0.5), 0.40), m(3, Some(0.45), 0.52), m(4, Some(0.5), 0.50)])
                .unwrap();
        assert_eq!((s.last_test_acc, s.best_test_acc, s.best_test_epoch), (0.50, 0.52, 3));
        assert_eq!((s.test_at_best_val, s.best_val_epoch), (Some(0.50), Some(4)), "val tie at epochs 2 and 4: epoch 4");
        assert_eq!(s.selected_epoch(), 4);
        let no_val = Summary::of(&[m(1, None, 0.2), m(2, None, 0.3), m(3, None, 0.3)]).unwrap();
        assert_eq!((no_val.test_at_best_val, no_val.best_test_epoch, no_val.selected_epoch()), (None, 3, 3));
    }
}
