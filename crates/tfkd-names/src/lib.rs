//! The names a spec uses, typed once, so a bad value is a located spec error and no crate re-matches a
//! string later: model architectures ([`Arch`]), dataset sources ([`SourceName`]), augmentation presets
//! and steps, rotation interpolation, normalisation presets and numeric precision; and the pipeline they
//! resolve to ([`Augment`], [`Normalize`]); the training methods with their hyper-parameters ([`Method`]).
//!
//! No libtorch: `tfkd-spec` parses these, the libtorch crates act on them.

mod arch;
mod dataset;
mod device;
mod error;
pub mod method;
mod pipeline;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

pub use arch::{Arch, ParseArchError, Torchvision};
pub use dataset::{Descriptor, Storage};
pub use device::{DeviceChoice, UnknownDevice};
pub use error::SettingError;
pub use method::{KlReduction, Method, RegVariant, Spread};
pub use pipeline::{Augment, Normalize, Op};

/// Declares a string-named enum: serde names, `name()`, `ALL`, `Display` and `FromStr` from one table.
macro_rules! named {
    ($(#[$doc:meta])* $ty:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $ty {
            $($(#[$vdoc])* #[serde(rename = $name)] $variant),+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name used in specs, records and messages.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                $ty::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| UnknownName {
                    what: $what,
                    name: s.to_string(),
                    expected: $ty::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}

/// A name that is not one of a kind's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{name}': expected one of {expected}")]
pub struct UnknownName {
    /// The kind of name (`dataset source`, …).
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The allowed names.
    pub expected: String,
}

named!(
    /// A dataset source (see tfkd-datasets for the formats and default locations).
    SourceName, "dataset source" {
        /// CIFAR-10: the official binary or python (pickle) archive or folder.
        Cifar10 = "cifar10",
        /// CIFAR-100: the official binary or python (pickle) archive or folder.
        Cifar100 = "cifar100",
        /// All 60,000 CIFAR-10 images re-encoded as JPEG q75: the archive the repository carries.
        Cifar10Jpeg = "cifar10-jpeg",
        /// Tiny-ImageNet-200 in its official layout.
        TinyImagenet = "tiny-imagenet",
        /// Any `split/<class>/<image>` tree.
        Imagefolder = "imagefolder",
        /// Fashion-MNIST IDX files.
        FashionMnist = "fashion-mnist",
        /// MNIST IDX files.
        Mnist = "mnist",
        /// ILSVRC-2012 (ImageNet-1k): folders or the official tars, decoded per batch (never held decoded).
        Imagenet = "imagenet",
    }
);

named!(
    /// An augmentation preset (docs/paper.md §4.2).
    AugmentPreset, "augmentation" {
        /// RandomCrop(32, 4) → RandomHorizontalFlip → RandomRotation(15): the official CIFAR pipeline.
        Cifar = "cifar",
        /// RandomRotation(20) → RandomHorizontalFlip: the official Tiny-ImageNet pipeline.
        TinyImagenet = "tiny-imagenet",
        /// RandomResizedCrop(224) → RandomHorizontalFlip, evaluated after Resize(256) → CenterCrop(224): the
        /// official ImageNet pipeline (docs/paper.md §4.4; `Augment::evaluation` gives the evaluation ops).
        Imagenet = "imagenet",
        /// No augmentation.
        None = "none",
    }
);

named!(
    /// One step of an augmentation preset, as `dataset.augment_off` names it.
    AugmentStep, "augmentation step" {
        /// The random crop: after zero padding (CIFAR), or ImageNet's RandomResizedCrop.
        Crop = "crop",
        /// The horizontal flip.
        Flip = "flip",
        /// The random rotation.
        Rotate = "rotate",
    }
);

named!(
    /// How rotation samples the source image.
    Interpolation, "interpolation" {
        /// Nearest neighbour: torchvision's `RandomRotation` default, hence the official code's.
        Nearest = "nearest",
        /// Bilinear, as Pillow blends: edge-clamped neighbours, the result cut down to a whole value.
        Bilinear = "bilinear",
    }
);

#[allow(clippy::derivable_impls)] // the enum is declared by `named!`, which derives no Default
impl Default for Interpolation {
    fn default() -> Self {
        Interpolation::Nearest
    }
}

named!(
    /// Normalisation constants.
    NormalizePreset, "normalisation" {
        /// The CIFAR-100 mean/std, which the official code uses for CIFAR-10 too.
        CifarOfficial = "cifar-official",
        /// The official code's Tiny-ImageNet mean/std.
        TinyImagenetOfficial = "tiny-imagenet-official",
        /// torchvision's ImageNet mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225] (docs/paper.md §4.4).
        ImagenetOfficial = "imagenet",
        /// Mean 0.5 and std 0.5 for every channel.
        Half = "half",
    }
);

named!(
    /// Numeric precision of training.
    Precision, "precision" {
        /// Single precision everywhere.
        Fp32 = "fp32",
        /// CUDA only: mixed precision (bf16 autocast; fp32 weights, optimiser state and loss).
        Bf16 = "bf16",
    }
);

named!(
    /// How libtorch chooses its CPU kernels.
    Numerics, "numerics mode" {
        /// The widest instruction set the CPU offers (fastest; numbers depend on the CPU).
        Native = "native",
        /// Every kernel family pinned to AVX2, so x86-64 CPUs with AVX2 compute the same bits.
        Portable = "portable",
    }
);

#[allow(clippy::derivable_impls)] // the enum is declared by `named!`, which derives no Default
impl Default for Numerics {
    fn default() -> Self {
        Numerics::Native
    }
}

#[allow(clippy::derivable_impls)] // the enum is declared by `named!`, which derives no Default
impl Default for Precision {
    fn default() -> Self {
        Precision::Fp32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_strings_and_serde() {
        for &s in SourceName::ALL {
            assert_eq!(s.name().parse::<SourceName>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
        assert_eq!(
            serde_json::from_str::<NormalizePreset>("\"tiny-imagenet-official\"").unwrap(),
            NormalizePreset::TinyImagenetOfficial
        );
        let err = "imagenet22k".parse::<SourceName>().unwrap_err().to_string();
        assert_eq!(err, "unknown dataset source 'imagenet22k': expected one of cifar10, cifar100, cifar10-jpeg, tiny-imagenet, imagefolder, fashion-mnist, mnist, imagenet");
        assert_eq!(SourceName::Cifar100.classes(), Some(100));
    }
}
