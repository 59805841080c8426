//! Label-smoothing regularization (LSR), in the official code's and the paper's spreads.

use tch::Tensor;

use crate::{checks, cross_entropy::soft_cross_entropy, error::Result, LossTerms, Spread};

/// Cross-entropy against a smoothed one-hot target (docs/paper.md §3.5, paper Eq. 1–3).
///
/// ```text
/// OverOthers: target_k = 1−ε if k = y, ε/(K−1) otherwise
/// Uniform:    target_k = (1−ε)·[k = y] + ε/K
/// L = −(1/N) Σ_i Σ_k target_ik · log softmax(z_i)_k
/// ```
///
/// No temperature and no multiplier. The official code hard-codes ε = 0.1 with `OverOthers`.
/// With `Uniform`, the gradient equals that of [`crate::Kd`] with a uniform teacher at T = 1 and
/// α = ε under [`crate::Reduction::BatchMean`] (paper Eq. 2–3; tested).
///
/// # Shapes
/// `student`: N×K float logits; `labels`: N integers in `0..K`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelSmoothing {
    /// ε, the probability mass moved off the true class; in `[0, 1]`.
    pub epsilon: f64,
    /// How that mass is spread.
    pub spread: Spread,
}

impl LabelSmoothing {
    /// Computes the loss; `ce` is the plain cross-entropy, reported for logging.
    pub fn compute(&self, student: &Tensor, labels: &Tensor) -> Result<LossTerms> {
        checks::unit_interval("epsilon", self.epsilon)?;
        let (n, k) = checks::logits("student logits", student)?;
        checks::labels(labels, n, k)?;
        let (on, off) = match self.spread {
            Spread::OverOthers => {
                checks::at_least_two_classes(k)?;
                (1.0 - self.epsilon, self.epsilon / (k - 1) as f64)
            }
            Spread::Uniform => (1.0 - self.epsilon + self.epsilon / k as f64, self.epsilon / k as f64),
        };
        let target = smoothed_one_hot(labels, k, on, off, student)?;
        let log_probs = student.f_log_softmax(1, None)?;
        let total = soft_cross_entropy(&log_probs, &target)?;
        let ce = crate::cross_entropy::hard_cross_entropy(&log_probs, labels)?;
        Ok(LossTerms { total, ce, kl: None })
    }
}

/// An N×K tensor holding `on` at each row's label and `off` elsewhere, with `like`'s kind and device.
pub(crate) fn smoothed_one_hot(labels: &Tensor, k: i64, on: f64, off: f64, like: &Tensor) -> Result<Tensor> {
    let n = labels.size()[0];
    let target = Tensor::f_full([n, k], off, (like.kind(), like.device()))?;
    let index = labels.f_to_kind(tch::Kind::Int64)?.f_unsqueeze(1)?;
    Ok(target.f_scatter_value(1, &index, on)?)
}
