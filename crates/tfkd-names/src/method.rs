//! The methods a run trains with, as specs name them: the baseline, label smoothing, KD, Tf-KD_self and
//! Tf-KD_reg with their hyper-parameters, and the KL reduction, label-smoothing spread and Tf-KD_reg variants
//! (docs/paper.md §3). Defined once here: tfkd-spec parses them, tfkd-losses turns a method into its loss
//! (`tfkd_losses::Loss::of`) and checks that [`Method::soft_weight`] is the weight that loss applies.

use serde::{Deserialize, Serialize};

/// How a spec asks for the summed KL divergence to be reduced (tfkd-losses' `Reduction` is what it becomes,
/// with the class count a substitution keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KlReduction {
    /// ÷N·K: the official code's `nn.KLDivLoss()` (default).
    #[default]
    ElementwiseMean,
    /// ÷N: per-example KL.
    BatchMean,
}

/// Where label smoothing puts the mass ε taken from the true class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Spread {
    /// ε/(K−1) on each *other* class, 1−ε on the true one: the official `loss_label_smoothing`
    /// (docs/paper.md §3.5). The default for reproduction.
    #[default]
    OverOthers,
    /// ε/K on *every* class, so the true class gets 1−ε+ε/K: the paper's Eq. 1,
    /// q'(k) = (1−α)q(k) + α·u(k).
    Uniform,
}

/// Which published form of Tf-KD_reg to compute; they differ only in the student's temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RegVariant {
    /// The official `loss_kd_regularization` (docs/paper.md §3.3): student at temperature 1. The
    /// author says τ = 1 on the student "works better" on CIFAR-100 (issue #3). Default for reproduction.
    #[default]
    OfficialCode,
    /// The paper's Eq. 9, KL(p^d_τ ‖ p_τ): the student is softened by the same τ as the teacher
    /// (what issues #19 and #24 of the official repository ask about).
    PaperEq9,
}
fn one() -> f64 {
    1.0
}
fn eps() -> f64 {
    0.1
}
fn correct_prob() -> f64 {
    0.99
}

/// A training method and its hyper-parameters. α weights the KL term in every distillation method.
///
/// `kd`, `re-kd` and `de-kd` share the KD loss; they differ in which teacher the spec gives them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Method {
    /// Cross-entropy.
    Baseline {},
    /// Normal KD from a stronger teacher.
    Kd {
        /// Weight of the KL term.
        alpha: f64,
        /// Temperature.
        temperature: f64,
        /// KL reduction.
        #[serde(default)]
        reduction: KlReduction,
    },
    /// Reversed KD: a weaker model teaches a stronger one.
    ReKd {
        /// Weight of the KL term.
        alpha: f64,
        /// Temperature.
        temperature: f64,
        /// KL reduction.
        #[serde(default)]
        reduction: KlReduction,
    },
    /// Defective KD: a poorly-trained teacher (set `teacher_snapshot`).
    DeKd {
        /// Weight of the KL term.
        alpha: f64,
        /// Temperature.
        temperature: f64,
        /// KL reduction.
        #[serde(default)]
        reduction: KlReduction,
    },
    /// Label smoothing.
    Lsr {
        /// ε (official 0.1).
        #[serde(default = "eps")]
        epsilon: f64,
        /// Spread.
        #[serde(default)]
        spread: Spread,
    },
    /// Tf-KD_self: the teacher is a trained copy of the same architecture.
    TfKdSelf {
        /// Weight of the KL term.
        alpha: f64,
        /// Temperature.
        temperature: f64,
        /// Extra factor on the KL term (official: 1, 50 or 100 per model).
        #[serde(default = "one")]
        multiplier: f64,
        /// KL reduction.
        #[serde(default)]
        reduction: KlReduction,
    },
    /// Tf-KD_reg: a hand-designed virtual teacher.
    TfKdReg {
        /// Weight of the KL term.
        alpha: f64,
        /// Temperature of the virtual teacher.
        temperature: f64,
        /// Probability of the true class in the virtual teacher (official 0.99).
        #[serde(default = "correct_prob")]
        correct_prob: f64,
        /// Extra factor on the KL term.
        #[serde(default = "one")]
        multiplier: f64,
        /// Official code or paper Eq. 9.
        #[serde(default)]
        variant: RegVariant,
        /// KL reduction.
        #[serde(default)]
        reduction: KlReduction,
    },
}

impl Method {
    /// The method's name in specs and tables.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Method::Baseline {} => "baseline",
            Method::Kd { .. } => "kd",
            Method::ReKd { .. } => "re-kd",
            Method::DeKd { .. } => "de-kd",
            Method::Lsr { .. } => "lsr",
            Method::TfKdSelf { .. } => "tf-kd-self",
            Method::TfKdReg { .. } => "tf-kd-reg",
        }
    }

    /// The KL reduction of a distillation method; `None` for the baseline and LSR.
    #[must_use]
    pub fn kl_reduction(&self) -> Option<KlReduction> {
        match *self {
            Method::Baseline {} | Method::Lsr { .. } => None,
            Method::Kd { reduction, .. }
            | Method::ReKd { reduction, .. }
            | Method::DeKd { reduction, .. }
            | Method::TfKdSelf { reduction, .. }
            | Method::TfKdReg { reduction, .. } => Some(reduction),
        }
    }

    /// The per-example weight the loss puts on its soft target, as the loss really applies it
    /// (docs/paper.md §3): the factor in front of one example's KL(soft target ‖ student) once the batch
    /// reduction is undone, beside the label term's weight 1 − α.
    ///
    /// - KD, Re-KD, De-KD: α·T² (÷`kl_classes` under the official elementwise mean);
    /// - Tf-KD_self: α·T²·multiplier (÷`kl_classes` under the elementwise mean);
    /// - Tf-KD_reg: α·multiplier (no T² in either form; ÷`kl_classes` under the elementwise mean);
    /// - LSR: ε, the weight of the smoothing part of the target (the label keeps 1 − ε);
    /// - baseline: `None`.
    ///
    /// `kl_classes` is the class count the elementwise-mean KL divides by: the data's K, or the paper's K′
    /// when a substitution keeps the paper's weight (tfkd-spec's `RunConfig::kl_classes`); `None` (not known
    /// before the data is loaded) leaves an elementwise-mean weight unknown. tfkd-losses' tests check, for
    /// every method and both reductions, that this is the weight the loss built from the method applies.
    #[must_use]
    pub fn soft_weight(&self, kl_classes: Option<usize>) -> Option<f64> {
        let per_example = |reduction: KlReduction, w: f64| match reduction {
            KlReduction::ElementwiseMean => kl_classes.map(|k| w / k as f64),
            KlReduction::BatchMean => Some(w),
        };
        match *self {
            Method::Baseline {} => None,
            Method::Lsr { epsilon, .. } => Some(epsilon),
            Method::Kd { alpha, temperature, reduction }
            | Method::ReKd { alpha, temperature, reduction }
            | Method::DeKd { alpha, temperature, reduction } => {
                per_example(reduction, alpha * temperature * temperature)
            }
            Method::TfKdSelf { alpha, temperature, multiplier, reduction } => {
                per_example(reduction, alpha * temperature * temperature * multiplier)
            }
            Method::TfKdReg { alpha, multiplier, reduction, .. } => per_example(reduction, alpha * multiplier),
        }
    }

    /// Whether the method trains against a teacher run.
    #[must_use]
    pub fn needs_teacher(&self) -> bool {
        matches!(self, Method::Kd { .. } | Method::ReKd { .. } | Method::DeKd { .. } | Method::TfKdSelf { .. })
    }
}
