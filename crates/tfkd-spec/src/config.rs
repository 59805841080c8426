//! Resolved settings: what one run is, with nothing left optional. These are what get hashed and recorded.

use serde::{Deserialize, Serialize};

use tfkd_names::{Arch, AugmentPreset, AugmentStep, Interpolation, NormalizePreset, Numerics, Precision, SourceName};

use crate::schema::{Method, Snapshot};

/// Data settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Source.
    pub source: SourceName,
    /// Explicit location, if the spec gave one.
    pub path: Option<String>,
    /// Stratified validation images carved from train.
    pub val_size: usize,
    /// Stratified training subset size, if any.
    pub train_subset: Option<usize>,
    /// Stratified test subset size, if any.
    pub test_subset: Option<usize>,
    /// Augmentation preset.
    pub augment: AugmentPreset,
    /// Steps of the preset switched off; omitted from ids when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub augment_off: Vec<AugmentStep>,
    /// Rotation interpolation.
    pub interpolation: Interpolation,
    /// Normalisation preset.
    pub normalize: NormalizePreset,
    /// ImageFolder output size.
    pub image_size: Option<[usize; 2]>,
    /// Prefetched batches (does not change results; not part of the run id).
    #[serde(skip)]
    pub prefetch: usize,
}

/// Optimisation settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs.
    pub epochs: u32,
    /// Batch size.
    pub batch_size: usize,
    /// Learning rate at batch 128.
    pub lr: f64,
    /// Whether lr is scaled by batch/128.
    pub lr_batch_scaling: bool,
    /// Momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Nesterov.
    pub nesterov: bool,
    /// Warm-up epochs.
    pub warmup_epochs: u32,
    /// Milestones as fractions of the epochs.
    pub milestones: Vec<f64>,
    /// Factor per milestone.
    pub gamma: f64,
    /// libtorch threads (0 = all cores). Bit-exact equality holds for equal thread counts.
    pub threads: usize,
    /// `fp32` or `bf16` (CUDA only). Omitted from records and run ids when fp32, so fp32 ids never change.
    #[serde(default, skip_serializing_if = "is_fp32")]
    pub precision: Precision,
    /// Fused training arrays (how runs are grouped, not what they compute): not part of run ids or records.
    #[serde(skip)]
    pub array: crate::schema::ArrayMode,
    /// How CPU kernels are chosen. Omitted from records and run ids when native, so native ids never change.
    #[serde(default, skip_serializing_if = "is_native")]
    pub numerics: Numerics,
}

fn is_native(n: &Numerics) -> bool {
    *n == Numerics::Native
}

fn is_fp32(p: &Precision) -> bool {
    *p == Precision::Fp32
}

impl TrainConfig {
    /// The learning rate the optimiser starts from: `lr · batch/128` when scaling is on.
    #[must_use]
    pub fn base_lr(&self) -> f64 {
        if self.lr_batch_scaling {
            self.lr * self.batch_size as f64 / 128.0
        } else {
            self.lr
        }
    }

    /// The milestone epochs: `round(fraction · epochs)` (0.3/0.6/0.8 of 200 → 60/120/160).
    #[must_use]
    pub fn milestone_epochs(&self) -> Vec<u32> {
        self.milestones.iter().map(|f| (f * f64::from(self.epochs)).round() as u32).collect()
    }

    /// Learning rate for iteration `iter` (0-based) of `epoch` (0-based) with `iters` iterations per epoch:
    /// linear per-iteration warm-up over the first `warmup_epochs`, then ×gamma at each milestone.
    #[must_use]
    pub fn lr_at(&self, epoch: u32, iter: usize, iters: usize) -> f64 {
        let base = self.base_lr();
        if epoch < self.warmup_epochs {
            let done = u64::from(epoch) * iters as u64 + iter as u64 + 1;
            let total = u64::from(self.warmup_epochs) * iters as u64;
            return base * done as f64 / total as f64;
        }
        let drops = self.milestone_epochs().iter().filter(|&&m| epoch >= m).count();
        base * self.gamma.powi(drops as i32)
    }
}

/// Model settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    /// Width multiplier.
    pub width: f64,
    /// GoogLeNet BN eps accident.
    pub googlenet_bn_eps_quirk: bool,
}

/// Everything that defines one run (one seed of one entry of an experiment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Entry id within the experiment.
    pub id: String,
    /// Seed of initialisation, shuffling, augmentation and dropout.
    pub seed: u64,
    /// Model.
    pub model: Arch,
    /// Method.
    pub method: Method,
    /// Teacher entry id.
    pub teacher: Option<String>,
    /// A teacher trained elsewhere (instead of a teacher entry). Omitted from records and run ids when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_weights: Option<crate::schema::ExternalTeacher>,
    /// Teacher checkpoint choice.
    pub teacher_snapshot: Option<Snapshot>,
    /// Data.
    pub data: DataConfig,
    /// Optimisation.
    pub train: TrainConfig,
    /// Model options.
    pub model_options: ModelOptions,
    /// Divide the official elementwise-mean KL by N·`kl_classes` instead of N·K: set when a profile substitutes
    /// a K-class dataset for the paper's `kl_classes`-class one, so the per-example KD weight stays the paper's.
    /// Omitted from records and run ids when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_classes: Option<usize>,
}

impl RunConfig {
    /// The per-example soft-target weight of this run's loss ([`crate::Method::soft_weight`]): the class count
    /// of the elementwise mean is `kl_classes` when a substitution kept the paper's weight, else the data's.
    /// `None` for the baseline, and for a distillation method on data whose class count is only known once
    /// loaded (an image folder).
    #[must_use]
    pub fn soft_weight(&self) -> Option<f64> {
        self.method.soft_weight(self.kl_classes.or_else(|| self.data.source.classes()))
    }

    /// `id@seed`, the run's label in status lines and result folders.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::TrainConfig;

    fn official(epochs: u32, batch_size: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size,
            lr: 0.1,
            lr_batch_scaling: true,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
            warmup_epochs: 1,
            milestones: vec![0.3, 0.6, 0.8],
            gamma: 0.2,
            threads: 0,
            precision: tfkd_names::Precision::Fp32,
            array: crate::schema::ArrayMode::Auto,
            numerics: tfkd_names::Numerics::Native,
        }
    }

    #[test]
    fn official_schedule_at_200_epochs() {
        let t = official(200, 128);
        assert_eq!(t.milestone_epochs(), vec![60, 120, 160]);
        assert!((t.lr_at(0, 0, 391) - 0.1 / 391.0).abs() < 1e-15);
        assert!((t.lr_at(0, 390, 391) - 0.1).abs() < 1e-15);
        for (epoch, lr) in [(1, 0.1), (59, 0.1), (60, 0.02), (119, 0.02), (120, 0.004), (160, 0.0008), (199, 0.0008)] {
            assert!((t.lr_at(epoch, 5, 391) - lr).abs() < 1e-12, "epoch {epoch}");
        }
    }

    #[test]
    fn lr_scales_with_batch() {
        assert!((official(200, 64).base_lr() - 0.05).abs() < 1e-15);
        assert!((official(200, 100).base_lr() - 0.078125).abs() < 1e-15);
    }
}
