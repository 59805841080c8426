//! The input pipeline a run uses, as data: the augmentation steps and their order, and the normalisation
//! constants. The data loaders act on them; records keep them (so the report reads them without libtorch).

use serde::{Deserialize, Serialize};

use crate::{AugmentPreset, AugmentStep, Interpolation, NormalizePreset, SettingError};

/// One augmentation step, applied in list order.
///
/// `Crop`, `Flip` and `Rotate` keep an image's size and act on the fixed-size decoded splits (CIFAR,
/// Tiny-ImageNet: `tfkd-datasets`' `augment`). `RandomResizedCrop`, `Resize` and `CenterCrop` are torchvision's
/// ops of the same names on PIL images of any size (ImageNet, docs/paper.md §4.4: `tfkd-datasets`' `transform`);
/// `Flip` belongs to both. [`Op::keeps_size`] tells the two kinds apart.
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
    /// torchvision's `RandomResizedCrop(size, scale, ratio)` (bilinear, antialiased as Pillow resamples): a
    /// random window of area fraction in `scale` and aspect ratio (width/height) in `ratio`, resized to
    /// `size`×`size`.
    RandomResizedCrop {
        /// Output height and width.
        size: usize,
        /// Range of the window's area as a fraction of the image's, `[min, max]`.
        scale: [f64; 2],
        /// Range of the window's aspect ratio (width / height), `[min, max]`.
        ratio: [f64; 2],
    },
    /// torchvision's `Resize(size)` with an int size (bilinear, antialiased): the shorter side becomes `size`,
    /// the longer `int(size · long / short)`.
    Resize {
        /// The shorter side after resizing.
        size: usize,
    },
    /// torchvision's `CenterCrop(size)`: the central `size`×`size` window, zero-padded where the image is
    /// smaller.
    CenterCrop {
        /// Output height and width.
        size: usize,
    },
}

impl Op {
    /// torchvision's `RandomResizedCrop(size)` defaults: scale (0.08, 1), ratio (3/4, 4/3).
    #[must_use]
    pub fn random_resized_crop(size: usize) -> Self {
        Op::RandomResizedCrop { size, scale: [0.08, 1.0], ratio: [3.0 / 4.0, 4.0 / 3.0] }
    }

    /// Whether the op keeps the image's size and needs no knowledge of it (the fixed-size ops).
    #[must_use]
    pub fn keeps_size(&self) -> bool {
        matches!(self, Op::Crop { .. } | Op::Flip | Op::Rotate { .. })
    }

    /// The preset step that `dataset.augment_off` names to remove this op; `None` for the deterministic
    /// geometry (`Resize`, `CenterCrop`), which is not an augmentation.
    #[must_use]
    pub fn step(&self) -> Option<AugmentStep> {
        match self {
            Op::Crop { .. } | Op::RandomResizedCrop { .. } => Some(AugmentStep::Crop),
            Op::Flip => Some(AugmentStep::Flip),
            Op::Rotate { .. } => Some(AugmentStep::Rotate),
            Op::Resize { .. } | Op::CenterCrop { .. } => None,
        }
    }

    /// Checks the op's parameters: sizes of at least one pixel, `0 < scale.0 <= scale.1`, `0 < ratio.0 <=
    /// ratio.1`, finite angles. The message names the op and the bad value.
    ///
    /// # Errors
    /// [`SettingError::Op`].
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |problem: String| Err(SettingError::Op { op: format!("{self:?}"), problem });
        match *self {
            Op::RandomResizedCrop { size, scale, ratio } => {
                if size == 0 {
                    return bad("size must be at least 1".into());
                }
                if !(scale[0] > 0.0 && scale[0] <= scale[1] && scale[1].is_finite()) {
                    return bad(format!("scale {scale:?} must satisfy 0 < min <= max"));
                }
                if !(ratio[0] > 0.0 && ratio[0] <= ratio[1] && ratio[1].is_finite()) {
                    return bad(format!("ratio {ratio:?} must satisfy 0 < min <= max"));
                }
                Ok(())
            }
            Op::Resize { size: 0 } | Op::CenterCrop { size: 0 } => bad("size must be at least 1".into()),
            Op::Rotate { degrees } if !degrees.is_finite() => bad("the angle must be finite".into()),
            _ => Ok(()),
        }
    }
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

    /// torchvision's ImageNet statistics, which the official ImageNet script uses (docs/paper.md §4.4).
    #[must_use]
    pub fn imagenet_official() -> Self {
        Normalize { mean: vec![0.485, 0.456, 0.406], std: vec![0.229, 0.224, 0.225] }
    }

    /// Mean 0.5, std 0.5 for every channel: a neutral choice for other data.
    #[must_use]
    pub fn half(channels: usize) -> Self {
        Normalize { mean: vec![0.5; channels], std: vec![0.5; channels] }
    }

    /// The constants of a preset for `channels`-channel images; the official presets are for RGB only (the
    /// error says so).
    ///
    /// # Errors
    /// [`SettingError::Channels`].
    pub fn preset(preset: NormalizePreset, channels: usize) -> Result<Self, SettingError> {
        let n = match preset {
            NormalizePreset::CifarOfficial => Normalize::cifar_official(),
            NormalizePreset::TinyImagenetOfficial => Normalize::tiny_imagenet_official(),
            NormalizePreset::ImagenetOfficial => Normalize::imagenet_official(),
            NormalizePreset::Half => Normalize::half(channels),
        };
        if n.mean.len() != channels {
            return Err(SettingError::Channels { preset, expected: n.mean.len(), channels });
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

    /// ImageNet training (docs/paper.md §4.4): RandomResizedCrop(224) → RandomHorizontalFlip.
    #[must_use]
    pub fn imagenet_official() -> Self {
        Augment { ops: vec![Op::random_resized_crop(224), Op::Flip], interpolation: Interpolation::Nearest }
    }

    /// ImageNet evaluation (docs/paper.md §4.4): Resize(256) → CenterCrop(224). Deterministic: no draws.
    #[must_use]
    pub fn imagenet_evaluation() -> Self {
        Augment {
            ops: vec![Op::Resize { size: 256 }, Op::CenterCrop { size: 224 }],
            interpolation: Interpolation::Nearest,
        }
    }

    /// No augmentation (evaluation).
    #[must_use]
    pub fn none() -> Self {
        Augment { ops: Vec::new(), interpolation: Interpolation::Nearest }
    }

    /// The evaluation pipeline that goes with a training preset: ImageNet's Resize(256) → CenterCrop(224),
    /// which brings images of any size to the training size; for every other preset [`Augment::none`], as the
    /// official code evaluates CIFAR and Tiny-ImageNet on the images as they are.
    #[must_use]
    pub fn evaluation(preset: AugmentPreset) -> Self {
        match preset {
            AugmentPreset::Imagenet => Augment::imagenet_evaluation(),
            AugmentPreset::Cifar | AugmentPreset::TinyImagenet | AugmentPreset::None => Augment::none(),
        }
    }

    /// Whether every op keeps the image size ([`Op::keeps_size`]): such a pipeline runs on fixed-size decoded
    /// splits; any other needs the transforms for images of any size.
    #[must_use]
    pub fn keeps_size(&self) -> bool {
        self.ops.iter().all(Op::keeps_size)
    }

    /// A preset with its rotation interpolation, minus the steps in `off`.
    ///
    /// ImageNet's `crop` step is its RandomResizedCrop; without it the images would keep their varied sizes,
    /// so switching it off puts the evaluation geometry (Resize(256) → CenterCrop(224)) in its place.
    #[must_use]
    pub fn preset(preset: AugmentPreset, interpolation: Interpolation, off: &[AugmentStep]) -> Self {
        let mut a = match preset {
            AugmentPreset::Cifar => Augment::cifar_official(),
            AugmentPreset::TinyImagenet => Augment::tiny_imagenet_official(),
            AugmentPreset::Imagenet => Augment::imagenet_official(),
            AugmentPreset::None => Augment::none(),
        };
        a.interpolation = interpolation;
        let mut ops = Vec::with_capacity(a.ops.len() + 1);
        for op in a.ops {
            match op.step() {
                Some(step) if off.contains(&step) => {
                    if matches!(op, Op::RandomResizedCrop { .. }) {
                        ops.extend(Augment::imagenet_evaluation().ops);
                    }
                }
                _ => ops.push(op),
            }
        }
        a.ops = ops;
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_presets_are_unchanged() {
        let cifar = Augment::preset(AugmentPreset::Cifar, Interpolation::Nearest, &[AugmentStep::Rotate]);
        assert_eq!(cifar.ops, vec![Op::Crop { padding: 4 }, Op::Flip]);
        let tiny = Augment::preset(AugmentPreset::TinyImagenet, Interpolation::Bilinear, &[]);
        assert_eq!(tiny.ops, vec![Op::Rotate { degrees: 20.0 }, Op::Flip]);
        assert!(cifar.keeps_size() && tiny.keeps_size());
        assert_eq!(Augment::evaluation(AugmentPreset::Cifar), Augment::none());
    }

    #[test]
    fn imagenet_preset_is_torchvisions() {
        let train = Augment::preset(AugmentPreset::Imagenet, Interpolation::Nearest, &[]);
        assert_eq!(
            train.ops,
            vec![Op::RandomResizedCrop { size: 224, scale: [0.08, 1.0], ratio: [0.75, 4.0 / 3.0] }, Op::Flip]
        );
        assert!(!train.keeps_size());
        let eval = Augment::evaluation(AugmentPreset::Imagenet);
        assert_eq!(eval.ops, vec![Op::Resize { size: 256 }, Op::CenterCrop { size: 224 }]);
        let no_crop = Augment::preset(AugmentPreset::Imagenet, Interpolation::Nearest, &[AugmentStep::Crop]);
        assert_eq!(no_crop.ops, vec![Op::Resize { size: 256 }, Op::CenterCrop { size: 224 }, Op::Flip]);
        let n = Normalize::preset(NormalizePreset::ImagenetOfficial, 3).unwrap();
        assert_eq!((n.mean[2], n.std[0]), (0.406, 0.229));
    }

    #[test]
    fn ops_round_trip_and_validate() {
        let op = Op::random_resized_crop(224);
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(
            json,
            r#"{"random_resized_crop":{"size":224,"scale":[0.08,1.0],"ratio":[0.75,1.3333333333333333]}}"#
        );
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
        assert_eq!(serde_json::from_str::<Op>(r#"{"center_crop":{"size":5}}"#).unwrap(), Op::CenterCrop { size: 5 });
        assert!(op.validate().is_ok());
        let bad = Op::RandomResizedCrop { size: 8, scale: [0.5, 0.1], ratio: [0.75, 1.0] };
        assert!(bad.validate().unwrap_err().to_string().contains("scale [0.5, 0.1]"), "{:?}", bad.validate());
        assert!(Op::Resize { size: 0 }.validate().is_err());
    }
}
