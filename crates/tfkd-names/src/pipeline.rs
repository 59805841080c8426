//! The input pipeline a run uses, as data: the augmentation steps and their order, and the normalisation
//! constants. The data loaders act on them; records keep them (so the report reads them without libtorch).

use serde::{Deserialize, Serialize};

use crate::{AugmentPreset, AugmentStep, Interpolation, NormalizePreset};

/// One augmentation step, applied in list order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Random crop of the original size after zero padding.
    Crop {
        /// Pixels of zero padding on each side.
        padding: usize,
    },
    /// Horizontal flip with probability 0.5.
    Flip,
    /// Random rotation.
    Rotate {
        /// Maximum absolute angle in degrees.
        degrees: f64,
    },
}

/// Per-channel normalisation `(x/255 − mean)/std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Channel means of [0, 1] pixels.
    pub mean: Vec<f32>,
    /// Channel standard deviations.
    pub std: Vec<f32>,
}

impl Normalize {
    /// The CIFAR-100 statistics the official code uses for both CIFAR-10 and CIFAR-100.
    #[must_use]
    pub fn cifar_official() -> Self {
        Normalize {
            mean: vec![0.507_075_16, 0.486_548_87, 0.440_917_84],
            std: vec![0.267_334_28, 0.256_438_46, 0.276_150_47],
        }
    }

    /// The official code's Tiny-ImageNet statistics.
    #[must_use]
    pub fn tiny_imagenet_official() -> Self {
        Normalize { mean: vec![0.4802, 0.4481, 0.3975], std: vec![0.2302, 0.2265, 0.2262] }
    }

    /// Mean 0.5, std 0.5 for every channel: a neutral choice for other data.
    #[must_use]
    pub fn half(channels: usize) -> Self {
        Normalize { mean: vec![0.5; channels], std: vec![0.5; channels] }
    }

    /// The constants of a preset for `channels`-channel images; the official presets are for RGB only (the
    /// error says so).
    pub fn preset(preset: NormalizePreset, channels: usize) -> Result<Self, String> {
        let n = match preset {
            NormalizePreset::CifarOfficial => Normalize::cifar_official(),
            NormalizePreset::TinyImagenetOfficial => Normalize::tiny_imagenet_official(),
            NormalizePreset::Half => Normalize::half(channels),
        };
        if n.mean.len() != channels {
            return Err(format!(
                "normalisation '{preset}' is for {}-channel images; the data has {channels} (use `half`)",
                n.mean.len()
            ));
        }
        Ok(n)
    }
}

/// A training-time pipeline: ops, interpolation and the seed they draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Steps in order.
    pub ops: Vec<Op>,
    /// Rotation interpolation.
    #[serde(default)]
    pub interpolation: Interpolation,
}

impl Augment {
    /// CIFAR: RandomCrop(32, 4) → flip → RandomRotation(15).
    #[must_use]
    pub fn cifar_official() -> Self {
        Augment {
            ops: vec![Op::Crop { padding: 4 }, Op::Flip, Op::Rotate { degrees: 15.0 }],
            interpolation: Interpolation::Nearest,
        }
    }

    /// Tiny-ImageNet: RandomRotation(20) → flip.
    #[must_use]
    pub fn tiny_imagenet_official() -> Self {
        Augment { ops: vec![Op::Rotate { degrees: 20.0 }, Op::Flip], interpolation: Interpolation::Nearest }
    }

    /// No augmentation (evaluation).
    #[must_use]
    pub fn none() -> Self {
        Augment { ops: Vec::new(), interpolation: Interpolation::Nearest }
    }

    /// A preset with its rotation interpolation, minus the steps in `off`.
    #[must_use]
    pub fn preset(preset: AugmentPreset, interpolation: Interpolation, off: &[AugmentStep]) -> Self {
        let mut a = match preset {
            AugmentPreset::Cifar => Augment::cifar_official(),
            AugmentPreset::TinyImagenet => Augment::tiny_imagenet_official(),
            AugmentPreset::None => Augment::none(),
        };
        a.interpolation = interpolation;
        a.ops.retain(|op| {
            let step = match op {
                Op::Crop { .. } => AugmentStep::Crop,
                Op::Flip => AugmentStep::Flip,
                Op::Rotate { .. } => AugmentStep::Rotate,
            };
            !off.contains(&step)
        });
        a
    }
}
