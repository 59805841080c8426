//! Knowledge distillation against a teacher network: normal KD, Re-KD, De-KD and Tf-KD_self.

use tch::Tensor;

use crate::{checks, cross_entropy::hard_cross_entropy, error::Result, LossTerms, Reduction};

/// Hinton-style KD, used by normal KD, Re-KD and De-KD (official `loss_kd`, docs/paper.md §3.1; paper Eq. 4).
///
/// ```text
/// L = (1−α)·CE(z_s, y) + α·T²·KL_r( softmax(z_t/T) ‖ softmax(z_s/T) )
/// ```
///
/// α weights the KL term (torchdistill's `KDLoss` uses the opposite convention). `KL_r` is the
/// summed KL reduced by [`Reduction`]: the official code uses [`Reduction::ElementwiseMean`]
/// (÷N·K), so its effective per-sample KL weight is α·T²/K. The paper's Eq. 4 writes neither T²
/// nor a reduction; T² is Hinton's gradient rescaling, kept by the code (issue #14).
/// Teacher logits are treated as constants: no gradient flows into them.
///
/// # Shapes
/// `student`, `teacher`: N×K float logits; `labels`: N integers in `0..K`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kd {
    /// α, weight of the KL term; in `[0, 1]`.
    pub alpha: f64,
    /// T, the softening temperature for teacher and student; > 0.
    pub temperature: f64,
    /// How the summed KL is reduced.
    pub reduction: Reduction,
}

impl Kd {
    /// Computes the loss; `kl` is the reduced, unweighted KL term.
    pub fn compute(&self, student: &Tensor, labels: &Tensor, teacher: &Tensor) -> Result<LossTerms> {
        TfKdSelf { alpha: self.alpha, temperature: self.temperature, multiplier: 1.0, reduction: self.reduction }
            .compute(student, labels, teacher)
    }
}

/// Tf-KD_self: KD whose teacher is a pre-trained copy of the student's own architecture
/// (official `loss_kd_self`, docs/paper.md §3.2; paper Eq. 7).
///
/// ```text
/// L = (1−α)·CE(z_s, y) + α·T²·multiplier·KL_r( softmax(z_t/T) ‖ softmax(z_s/T) )
/// ```
///
/// Identical to [`Kd`] except for the official code's `multiplier` on the KL term (1 for most
/// models, 50 or 100 for a few CIFAR-100 ones, none on ImageNet; issue #6). The teacher is the
/// best checkpoint of the same architecture's baseline run.
///
/// # Shapes
/// `student`, `teacher`: N×K float logits; `labels`: N integers in `0..K`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TfKdSelf {
    /// α, weight of the KL term; in `[0, 1]`.
    pub alpha: f64,
    /// T, the softening temperature for teacher and student; > 0.
    pub temperature: f64,
    /// Extra factor on the KL term; ≥ 0.
    pub multiplier: f64,
    /// How the summed KL is reduced.
    pub reduction: Reduction,
}

impl TfKdSelf {
    /// Computes the loss; `kl` is the reduced KL term before α, T² and `multiplier`.
    pub fn compute(&self, student: &Tensor, labels: &Tensor, teacher: &Tensor) -> Result<LossTerms> {
        checks::unit_interval("alpha", self.alpha)?;
        checks::positive("temperature", self.temperature)?;
        checks::non_negative("multiplier", self.multiplier)?;
        let (n, k) = checks::logits("student logits", student)?;
        checks::teacher(teacher, n, k)?;
        checks::labels(labels, n, k)?;
        let t = self.temperature;
        let teacher_log_probs = teacher.f_detach()?.f_div_scalar(t)?.f_log_softmax(1, None)?;
        distill(
            student,
            labels,
            &teacher_log_probs,
            Distill {
                alpha: self.alpha,
                student_temperature: t,
                kl_weight: t * t * self.multiplier,
                reduction: self.reduction,
            },
        )
    }
}

/// The weights of the common form `(1−α)·CE + α·kl_weight·KL_r(P_teacher ‖ softmax(z_s/T_s))`.
pub(crate) struct Distill {
    pub(crate) alpha: f64,
    pub(crate) student_temperature: f64,
    pub(crate) kl_weight: f64,
    pub(crate) reduction: Reduction,
}

/// Mixes hard-label CE with a weighted KL to the teacher distribution, on validated inputs.
pub(crate) fn distill(student: &Tensor, labels: &Tensor, teacher_log_probs: &Tensor, w: Distill) -> Result<LossTerms> {
    let ce = hard_cross_entropy(&student.f_log_softmax(1, None)?, labels)?;
    let student_log_probs = student.f_div_scalar(w.student_temperature)?.f_log_softmax(1, None)?;
    let kl = w.reduction.kl(teacher_log_probs, &student_log_probs)?;
    let total = ce.f_mul_scalar(1.0 - w.alpha)?.f_add(&kl.f_mul_scalar(w.alpha * w.kl_weight)?)?;
    Ok(LossTerms { total, ce, kl: Some(kl) })
}
