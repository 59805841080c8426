//! Plain cross-entropy: the baseline loss, and the hard-label term of every other loss.

use tch::{Kind, Tensor};

use crate::{checks, error::Result, LossTerms};

/// Cross-entropy with the one-hot label, averaged over the batch (docs/paper.md §3.6).
///
/// ```text
/// L = −(1/N) Σ_i log softmax(z_i)[y_i]
/// ```
///
/// # Shapes
/// `student`: N×K float logits; `labels`: N integers in `0..K`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CrossEntropy;

impl CrossEntropy {
    /// Computes the loss; `ce` and `total` are the same tensor.
    pub fn compute(&self, student: &Tensor, labels: &Tensor) -> Result<LossTerms> {
        let (n, k) = checks::logits("student logits", student)?;
        checks::labels(labels, n, k)?;
        let ce = hard_cross_entropy(&student.f_log_softmax(1, None)?, labels)?;
        Ok(LossTerms { total: ce.shallow_clone(), ce, kl: None })
    }
}

/// `−mean_i log_probs[i, y_i]`, on already validated inputs.
pub(crate) fn hard_cross_entropy(log_probs: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let picked = log_probs.f_gather(1, &labels.f_to_kind(Kind::Int64)?.f_unsqueeze(1)?, false)?;
    Ok(picked.f_mean(None)?.f_neg()?)
}

/// `−mean_i Σ_k target[i, k] · log_probs[i, k]`: cross-entropy against a soft target.
pub(crate) fn soft_cross_entropy(log_probs: &Tensor, target: &Tensor) -> Result<Tensor> {
    let per_row = log_probs.f_mul(target)?.f_sum_dim_intlist(1, false, None)?;
    Ok(per_row.f_mean(None)?.f_neg()?)
}
