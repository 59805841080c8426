//! How the KL term of the distillation losses is reduced over the batch.

use tch::Tensor;

use crate::error::Result;

/// Reduction of the summed KL divergence `Σ_i Σ_k P_ik (log P_ik − log Q_ik)` over a batch of N rows and K classes.
///
/// There is no default: every distillation loss names its reduction. Reproductions of the paper use
/// [`Reduction::ElementwiseMean`], which is what the official code's `nn.KLDivLoss()` (PyTorch 1.2,
/// reduction `'mean'`) does; it shrinks the KL term by a factor of K compared with the textbook
/// [`Reduction::BatchMean`], so the official α, T and `multiplier` only make sense with it
/// (docs/paper.md §3, issue #5 of the official repository).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// Divide the summed KL by N: the mathematical KL per example (PyTorch `'batchmean'`).
    BatchMean,
    /// Divide the summed KL by N·K: the official code's `nn.KLDivLoss()` default `'mean'`.
    ElementwiseMean,
    /// Divide the summed KL by N·`classes` for data with another K: the official `'mean'` as it weighs an
    /// example on a `classes`-class dataset. A study that substitutes a K-class dataset for the paper's
    /// `classes`-class one keeps the paper's per-example KD weight α·T²/`classes` this way.
    ElementwiseMeanOver {
        /// The class count whose N·classes divides the sum.
        classes: i64,
    },
}

impl Reduction {
    /// Reduces `KL(P ‖ Q)` where both distributions are given as log-probabilities of shape N×K.
    pub(crate) fn kl(self, target_log_probs: &Tensor, input_log_probs: &Tensor) -> Result<Tensor> {
        let summed = input_log_probs.f_kl_div(target_log_probs, tch::Reduction::Sum, true)?;
        let (n, k) = input_log_probs.size2()?;
        let denom = match self {
            Reduction::BatchMean => n,
            Reduction::ElementwiseMean => n * k,
            Reduction::ElementwiseMeanOver { classes } => n * classes,
        };
        Ok(summed.f_div_scalar(denom as f64)?)
    }
}
