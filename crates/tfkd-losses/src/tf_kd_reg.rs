//! Tf-KD_reg: distillation from a hand-designed virtual teacher, in the official code's and the paper's form.

use tch::{Kind, Tensor};

use crate::{
    checks,
    error::Result,
    kd::{distill, Distill},
    label_smoothing::smoothed_one_hot,
    LossTerms, Reduction, RegVariant,
};

/// Tf-KD_reg: KD against a virtual teacher with 100% accuracy (paper Eq. 8–9; official code docs/paper.md §3.3).
///
/// ```text
/// p^d(k)   = a if k = y, (1−a)/(K−1) otherwise            (Eq. 8, a = correct_prob, 0.99 in the code)
/// p^d_τ    = softmax(p^d / τ)                              (the code's construction: the probability
///                                                            vector itself is used as logits)
/// OfficialCode: L = (1−α)·CE(z_s, y) + α·multiplier·KL_r( p^d_τ ‖ softmax(z_s) )
/// PaperEq9:     L = (1−α)·CE(z_s, y) + α·multiplier·KL_r( p^d_τ ‖ softmax(z_s/τ) )
/// ```
///
/// There is no τ² factor in either form. At a = 0.99, τ = 20, K = 100 the virtual teacher puts
/// 0.01050 on the true class and 0.009995 elsewhere: uniform plus a 5% relative bump, which is
/// why this loss behaves much like label smoothing (docs/paper.md §3.4).
///
/// # Shapes
/// `student`: N×K float logits; `labels`: N integers in `0..K`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TfKdReg {
    /// α, weight of the KL term; in `[0, 1]`.
    pub alpha: f64,
    /// τ, the temperature applied to the virtual teacher (and, for `PaperEq9`, to the student); > 0.
    pub temperature: f64,
    /// a, the virtual teacher's probability on the true class; in `[0, 1]`.
    pub correct_prob: f64,
    /// Extra factor on the KL term; ≥ 0.
    pub multiplier: f64,
    /// Official code or paper Eq. 9.
    pub variant: RegVariant,
    /// How the summed KL is reduced.
    pub reduction: Reduction,
}

impl TfKdReg {
    /// Computes the loss; `kl` is the reduced KL term before α and `multiplier`.
    pub fn compute(&self, student: &Tensor, labels: &Tensor) -> Result<LossTerms> {
        checks::unit_interval("alpha", self.alpha)?;
        checks::non_negative("multiplier", self.multiplier)?;
        let (n, k) = checks::logits("student logits", student)?;
        checks::labels(labels, n, k)?;
        let teacher = virtual_teacher_logits(labels, k, self.correct_prob, self.temperature, student)?;
        let student_temperature = match self.variant {
            RegVariant::OfficialCode => 1.0,
            RegVariant::PaperEq9 => self.temperature,
        };
        distill(
            student,
            labels,
            &teacher.f_log_softmax(1, None)?,
            Distill { alpha: self.alpha, student_temperature, kl_weight: self.multiplier, reduction: self.reduction },
        )
    }
}

/// The virtual teacher's distribution p^d_τ = softmax(p^d / τ) for each label: an N×K tensor of probabilities.
///
/// `labels` are N integers in `0..classes`; the result has kind `Float` on the labels' device.
pub fn virtual_teacher(labels: &Tensor, classes: i64, correct_prob: f64, temperature: f64) -> Result<Tensor> {
    checks::labels(labels, labels.size().first().copied().unwrap_or(0), classes)?;
    let like = Tensor::f_zeros([0], (Kind::Float, labels.device()))?;
    Ok(virtual_teacher_logits(labels, classes, correct_prob, temperature, &like)?.f_softmax(1, None)?)
}

/// p^d / τ, the logits whose softmax is the virtual teacher, in `like`'s kind and device.
fn virtual_teacher_logits(labels: &Tensor, k: i64, a: f64, temperature: f64, like: &Tensor) -> Result<Tensor> {
    checks::unit_interval("correct_prob", a)?;
    checks::positive("temperature", temperature)?;
    checks::at_least_two_classes(k)?;
    let p_d = smoothed_one_hot(labels, k, a, (1.0 - a) / (k - 1) as f64, like)?;
    Ok(p_d.f_div_scalar(temperature)?)
}
