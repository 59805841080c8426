//! The losses of Yuan et al., "Revisiting Knowledge Distillation via Label Smoothing Regularization"
//! (CVPR 2020), with the official code's semantics and the paper's equations side by side.
//!
//! Every loss takes student logits (N×K), integer labels and, where it needs one, teacher logits,
//! and returns [`LossTerms`] whose `total` is a scalar with autograd intact. Nothing has a hidden
//! default: KL terms name their [`Reduction`], label smoothing names its [`Spread`], Tf-KD_reg names
//! its [`RegVariant`]. Inputs are validated first (shapes, label range, finiteness,
//! hyper-parameter ranges) and bad input is a [`LossError`], never a panic.
//!
//! | method | type | official-code semantics |
//! |---|---|---|
//! | baseline | [`CrossEntropy`] | `nn.CrossEntropyLoss()` |
//! | LSR | [`LabelSmoothing`] | ε = 0.1, [`Spread::OverOthers`] |
//! | KD, Re-KD, De-KD | [`Kd`] | T² · KL with [`Reduction::ElementwiseMean`] |
//! | Tf-KD_self | [`TfKdSelf`] | as KD, times `multiplier` |
//! | Tf-KD_reg | [`TfKdReg`] | softmax(p^d/τ) teacher, student at τ = 1, no τ² |
//!
//! This crate depends on libtorch (tch) and the vocabulary crate only: it turns a run's method into its loss
//! ([`Loss::of`]) and knows nothing of models, data or specs.

mod checks;
mod cross_entropy;
mod error;
mod kd;
mod label_smoothing;
mod method;
mod reduction;
mod tf_kd_reg;

use tch::Tensor;

pub use checks::with_value_checks;
pub use cross_entropy::CrossEntropy;
pub use error::{LossError, Result};
pub use kd::{Kd, TfKdSelf};
pub use label_smoothing::LabelSmoothing;
pub use reduction::Reduction;
pub use tf_kd_reg::{virtual_teacher, TfKdReg};
pub use tfkd_names::method::{KlReduction, Method, RegVariant, Spread};

/// A computed loss: the scalar to minimise plus its parts, for logging.
#[derive(Debug)]
#[must_use]
pub struct LossTerms {
    /// The scalar loss with autograd intact; call `backward` on this.
    pub total: Tensor,
    /// Plain hard-label cross-entropy of the student (batch mean), whatever the loss.
    pub ce: Tensor,
    /// The reduced KL term before any weighting, for distillation losses.
    pub kl: Option<Tensor>,
}

/// Any of the paper's losses, so trainers can hold one value and dispatch on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Baseline training.
    CrossEntropy(CrossEntropy),
    /// LSR.
    LabelSmoothing(LabelSmoothing),
    /// Normal KD, Re-KD and De-KD (they differ in the teacher, not the loss).
    Kd(Kd),
    /// Tf-KD_self.
    TfKdSelf(TfKdSelf),
    /// Tf-KD_reg.
    TfKdReg(TfKdReg),
}

impl Loss {
    /// Whether [`Loss::compute`] needs teacher logits.
    #[must_use]
    pub fn needs_teacher(&self) -> bool {
        matches!(self, Loss::Kd(_) | Loss::TfKdSelf(_))
    }

    /// Computes the loss; `teacher` is required exactly when [`Loss::needs_teacher`] is true and ignored otherwise.
    pub fn compute(&self, student: &Tensor, labels: &Tensor, teacher: Option<&Tensor>) -> Result<LossTerms> {
        let teacher_for = |loss| teacher.ok_or(LossError::MissingTeacher { loss });
        match self {
            Loss::CrossEntropy(l) => l.compute(student, labels),
            Loss::LabelSmoothing(l) => l.compute(student, labels),
            Loss::Kd(l) => l.compute(student, labels, teacher_for("kd")?),
            Loss::TfKdSelf(l) => l.compute(student, labels, teacher_for("tf-kd-self")?),
            Loss::TfKdReg(l) => l.compute(student, labels),
        }
    }
}
