//! A run's method as the loss it trains with (docs/paper.md §3): the one conversion from the spec's vocabulary
//! ([`tfkd_names::Method`], defined once in tfkd-names) to [`Loss`]. `tests/soft_weight.rs` checks that the
//! weight tables print for a method ([`Method::soft_weight`]) is the weight the loss built here applies.

use tfkd_names::{KlReduction, Method};

use crate::{CrossEntropy, Kd, LabelSmoothing, Loss, Reduction, TfKdReg, TfKdSelf};

impl Loss {
    /// The loss `method` trains with. `kl_classes`: the class count an elementwise-mean KL divides by when it is
    /// not the data's (a substitution that keeps the paper's weight); `None`: the data's own, known when the
    /// loss is computed.
    #[must_use]
    pub fn of(method: &Method, kl_classes: Option<usize>) -> Loss {
        let reduction = |r: KlReduction| match (r, kl_classes) {
            (KlReduction::ElementwiseMean, Some(classes)) => Reduction::ElementwiseMeanOver { classes: classes as i64 },
            (KlReduction::ElementwiseMean, None) => Reduction::ElementwiseMean,
            (KlReduction::BatchMean, _) => Reduction::BatchMean,
        };
        match *method {
            Method::Baseline {} => Loss::CrossEntropy(CrossEntropy),
            Method::Kd { alpha, temperature, reduction: r }
            | Method::ReKd { alpha, temperature, reduction: r }
            | Method::DeKd { alpha, temperature, reduction: r } => {
                Loss::Kd(Kd { alpha, temperature, reduction: reduction(r) })
            }
            Method::Lsr { epsilon, spread } => Loss::LabelSmoothing(LabelSmoothing { epsilon, spread }),
            Method::TfKdSelf { alpha, temperature, multiplier, reduction: r } => {
                Loss::TfKdSelf(TfKdSelf { alpha, temperature, multiplier, reduction: reduction(r) })
            }
            Method::TfKdReg { alpha, temperature, correct_prob, multiplier, variant, reduction: r } => {
                Loss::TfKdReg(TfKdReg {
                    alpha,
                    temperature,
                    correct_prob,
                    multiplier,
                    variant,
                    reduction: reduction(r),
                })
            }
        }
    }
}
