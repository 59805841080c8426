//! The methods a run trains with, as specs name them: the baseline, label smoothing, KD, Tf-KD_self and
//! Tf-KD_reg with their hyper-parameters, and the KL reduction and Tf-KD_reg variants (docs/paper.md §3).

use serde::{Deserialize, Serialize};

/// How the summed KL divergence is reduced (see tfkd-losses' `Reduction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KlReduction {
    /// ÷N·K: the official code's `nn.KLDivLoss()` (default).
    #[default]
    ElementwiseMean,
    /// ÷N: per-example KL.
    BatchMean,
}

/// Label-smoothing spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Spread {
    /// ε/(K−1) on the other classes (official, default).
    #[default]
    OverOthers,
    /// ε/K on every class (paper Eq. 1).
    Uniform,
}

/// Tf-KD_reg variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RegVariant {
    /// Student at τ = 1 (official code, default).
    #[default]
    OfficialCode,
    /// Student at τ (paper Eq. 9).
    PaperEq9,
}

pub(crate) fn yes() -> bool {
    true
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
    /// when a substitution keeps the paper's weight ([`crate::RunConfig::kl_classes`]); `None` (not known
    /// before the data is loaded) leaves an elementwise-mean weight unknown.
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
