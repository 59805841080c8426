//! Model names as used in specs, tables and `tfkd models`.

use crate::SettingError;
use std::{fmt, str::FromStr};

/// An architecture of the zoo.
///
/// `resnetN` means kuangliu's ResNet for N ∈ {18, 34, 50, 101} (the official code's) and He et al.'s
/// CIFAR ResNet of depth N = 6n+2 otherwise (`resnet8`, `resnet14`, `resnet20`, `resnet32`, …).
/// `torchvision.<name>` is torchvision's ImageNet model of that name (the ImageNet teachers,
/// docs/paper.md §4.4), e.g. `torchvision.resnet18`, which is not the CIFAR `resnet18`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// ResNet-18 (BasicBlock [2,2,2,2]).
    ResNet18,
    /// ResNet-34 (BasicBlock [3,4,6,3]).
    ResNet34,
    /// ResNet-50 (Bottleneck [3,4,6,3]).
    ResNet50,
    /// ResNet-101 (Bottleneck [3,4,23,3]).
    ResNet101,
    /// He et al.'s CIFAR ResNet of depth 6n+2, 16/32/64 channels, parameter-free shortcuts.
    CifarResNet {
        /// Depth 6n+2.
        depth: i64,
    },
    /// ResNeXt-29, cardinality 8, base width 64.
    #[allow(non_camel_case_types)]
    ResNeXt29_8x64d,
    /// MobileNetV2 (CIFAR variant with the 1×1 padded stem).
    MobileNetV2,
    /// ShuffleNetV2, ratio 1.
    ShuffleNetV2,
    /// GoogLeNet (CIFAR variant).
    GoogLeNet,
    /// DenseNet-BC-121, growth 32.
    DenseNet121,
    /// Wide ResNet WRN-depth-widen.
    Wrn {
        /// Depth 6n+4.
        depth: i64,
        /// Widen factor k.
        widen: i64,
    },
    /// The 5-layer plain CNN.
    Cnn5,
    /// A torchvision ImageNet model (`torchvision.<name>`), with torchvision's structure and key names.
    Torchvision(Torchvision),
}

/// torchvision's ImageNet architectures, named as `torchvision.models` names them.
///
/// These are the teachers (torchvision-pretrained) and students of the paper's ImageNet runs
/// (docs/paper.md §4.4). Their stems (7×7 stride-2 conv + max-pool for ResNet and DenseNet, a stride-2
/// 3×3 conv for MobileNetV2) are torchvision's, unlike the CIFAR zoo's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum Torchvision {
    /// `resnet18`: BasicBlock [2,2,2,2].
    ResNet18,
    /// `resnet34`: BasicBlock [3,4,6,3].
    ResNet34,
    /// `resnet50`: Bottleneck (stride on the 3×3, "V1.5") [3,4,6,3].
    ResNet50,
    /// `resnet101`: Bottleneck [3,4,23,3].
    ResNet101,
    /// `resnet152`: Bottleneck [3,8,36,3].
    ResNet152,
    /// `resnext50_32x4d`: Bottleneck [3,4,6,3], 32 groups of width 4.
    ResNeXt50_32x4d,
    /// `resnext101_32x8d`: Bottleneck [3,4,23,3], 32 groups of width 8.
    ResNeXt101_32x8d,
    /// `densenet121`: DenseNet-BC, growth 32, blocks [6,12,24,16], 64 initial features.
    DenseNet121,
    /// `mobilenet_v2`: inverted residuals, width multiplier 1, dropout 0.2 before the classifier.
    MobileNetV2,
}

impl Torchvision {
    /// Every torchvision architecture, in the order `tfkd models --imagenet` lists them.
    pub const ALL: &'static [Torchvision] = &[
        Torchvision::ResNet18,
        Torchvision::ResNet34,
        Torchvision::ResNet50,
        Torchvision::ResNet101,
        Torchvision::ResNet152,
        Torchvision::ResNeXt50_32x4d,
        Torchvision::ResNeXt101_32x8d,
        Torchvision::DenseNet121,
        Torchvision::MobileNetV2,
    ];

    /// torchvision's own name (`torchvision.models.<name>`), without the `torchvision.` prefix.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Torchvision::ResNet18 => "resnet18",
            Torchvision::ResNet34 => "resnet34",
            Torchvision::ResNet50 => "resnet50",
            Torchvision::ResNet101 => "resnet101",
            Torchvision::ResNet152 => "resnet152",
            Torchvision::ResNeXt50_32x4d => "resnext50_32x4d",
            Torchvision::ResNeXt101_32x8d => "resnext101_32x8d",
            Torchvision::DenseNet121 => "densenet121",
            Torchvision::MobileNetV2 => "mobilenet_v2",
        }
    }
}

/// The `torchvision.` prefix of the names of [`Arch::Torchvision`] models.
const TORCHVISION_PREFIX: &str = "torchvision.";

impl Arch {
    /// The CIFAR registry: one entry per name `tfkd models` lists (the torchvision models are [`Arch::IMAGENET`]).
    pub const ALL: &'static [Arch] = &[
        Arch::ResNet18,
        Arch::ResNet34,
        Arch::ResNet50,
        Arch::ResNet101,
        Arch::ResNeXt29_8x64d,
        Arch::MobileNetV2,
        Arch::ShuffleNetV2,
        Arch::GoogLeNet,
        Arch::DenseNet121,
        Arch::Wrn { depth: 16, widen: 4 },
        Arch::Wrn { depth: 28, widen: 10 },
        Arch::Cnn5,
        Arch::CifarResNet { depth: 8 },
        Arch::CifarResNet { depth: 14 },
        Arch::CifarResNet { depth: 20 },
        Arch::CifarResNet { depth: 32 },
    ];

    /// torchvision's ImageNet models: the names `tfkd models --imagenet` lists.
    pub const IMAGENET: &'static [Arch] = &[
        Arch::Torchvision(Torchvision::ResNet18),
        Arch::Torchvision(Torchvision::ResNet34),
        Arch::Torchvision(Torchvision::ResNet50),
        Arch::Torchvision(Torchvision::ResNet101),
        Arch::Torchvision(Torchvision::ResNet152),
        Arch::Torchvision(Torchvision::ResNeXt50_32x4d),
        Arch::Torchvision(Torchvision::ResNeXt101_32x8d),
        Arch::Torchvision(Torchvision::DenseNet121),
        Arch::Torchvision(Torchvision::MobileNetV2),
    ];

    /// Whether this is one of torchvision's ImageNet models ([`Arch::IMAGENET`]) rather than the CIFAR zoo.
    #[must_use]
    pub fn is_imagenet(self) -> bool {
        matches!(self, Arch::Torchvision(_))
    }

    /// Checks depth/widen constraints of the parametric families.
    ///
    /// # Errors
    /// [`SettingError::ResNetDepth`], [`SettingError::WrnDepth`] or [`SettingError::WrnWiden`].
    pub fn validate(self) -> Result<(), SettingError> {
        match self {
            Arch::CifarResNet { depth } if depth < 8 || (depth - 2) % 6 != 0 => Err(SettingError::ResNetDepth(depth)),
            Arch::Wrn { depth, .. } if depth < 10 || (depth - 4) % 6 != 0 => Err(SettingError::WrnDepth(depth)),
            Arch::Wrn { widen, .. } if widen < 1 => Err(SettingError::WrnWiden(widen)),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Arch {
    /// The canonical name; honours width and alignment (`{:<16}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name: std::borrow::Cow<'static, str> = match self {
            Arch::ResNet18 => "resnet18".into(),
            Arch::ResNet34 => "resnet34".into(),
            Arch::ResNet50 => "resnet50".into(),
            Arch::ResNet101 => "resnet101".into(),
            Arch::CifarResNet { depth } => format!("resnet{depth}").into(),
            Arch::ResNeXt29_8x64d => "resnext29_8x64d".into(),
            Arch::MobileNetV2 => "mobilenetv2".into(),
            Arch::ShuffleNetV2 => "shufflenetv2".into(),
            Arch::GoogLeNet => "googlenet".into(),
            Arch::DenseNet121 => "densenet121".into(),
            Arch::Wrn { depth, widen } => format!("wrn-{depth}-{widen}").into(),
            Arch::Cnn5 => "cnn5".into(),
            Arch::Torchvision(tv) => format!("{TORCHVISION_PREFIX}{}", tv.name()).into(),
        };
        f.pad(&name)
    }
}

/// An unknown or malformed model name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model '{name}': expected one of resnet18, resnet34, resnet50, resnet101, resnet<6n+2> (resnet8, resnet14, resnet20, resnet32), resnext29_8x64d, mobilenetv2, shufflenetv2, googlenet, densenet121, wrn-<depth>-<widen>, cnn5 (the CIFAR zoo) or torchvision.<name> with <name> one of resnet18, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d, resnext101_32x8d, densenet121, mobilenet_v2 (torchvision's ImageNet models)")]
pub struct ParseArchError {
    /// The name given.
    pub name: String,
}

impl FromStr for Arch {
    type Err = ParseArchError;

    /// Parses canonical names and the official code's spellings (`mobilenet_v2`, `shufflenet_v2`, `resnext29`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseArchError { name: s.to_string() };
        let lower = s.to_ascii_lowercase();
        if let Some(name) = lower.strip_prefix(TORCHVISION_PREFIX) {
            let tv = Torchvision::ALL.iter().find(|tv| tv.name() == name).ok_or_else(err)?;
            return Ok(Arch::Torchvision(*tv));
        }
        let arch = match lower.as_str() {
            "resnet18" => Arch::ResNet18,
            "resnet34" => Arch::ResNet34,
            "resnet50" => Arch::ResNet50,
            "resnet101" => Arch::ResNet101,
            "resnext29_8x64d" | "resnext29" => Arch::ResNeXt29_8x64d,
            "mobilenetv2" | "mobilenet_v2" => Arch::MobileNetV2,
            "shufflenetv2" | "shufflenet_v2" => Arch::ShuffleNetV2,
            "googlenet" => Arch::GoogLeNet,
            "densenet121" => Arch::DenseNet121,
            "cnn5" | "cnn" => Arch::Cnn5,
            other => {
                if let Some(depth) = other.strip_prefix("resnet") {
                    Arch::CifarResNet { depth: depth.parse().map_err(|_| err())? }
                } else if let Some(rest) = other.strip_prefix("wrn").map(|r| r.trim_start_matches(['-', '_'])) {
                    let (d, k) = rest.split_once(['-', '_']).ok_or_else(err)?;
                    Arch::Wrn { depth: d.parse().map_err(|_| err())?, widen: k.parse().map_err(|_| err())? }
                } else {
                    return Err(err());
                }
            }
        };
        arch.validate().map_err(|_| err())?;
        Ok(arch)
    }
}

impl serde::Serialize for Arch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Arch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{Arch, Torchvision};

    #[test]
    fn names_round_trip() {
        for &arch in Arch::ALL {
            assert_eq!(arch.to_string().parse::<Arch>().unwrap(), arch);
        }
    }

    #[test]
    fn torchvision_names_round_trip_and_stay_apart_from_the_cifar_zoo() {
        for &arch in Arch::IMAGENET {
            let name = arch.to_string();
            assert!(name.starts_with("torchvision."), "{name}");
            assert_eq!(name.parse::<Arch>().unwrap(), arch);
            assert!(arch.is_imagenet() && !Arch::ALL.contains(&arch), "{name}");
        }
        assert!(Arch::ALL.iter().all(|a| !a.is_imagenet()));
        assert_eq!("torchvision.resnet18".parse::<Arch>().unwrap(), Arch::Torchvision(Torchvision::ResNet18));
        assert_eq!("resnet18".parse::<Arch>().unwrap(), Arch::ResNet18);
        assert_eq!("torchvision.resnext101_32x8d".parse::<Arch>().unwrap().to_string(), "torchvision.resnext101_32x8d");
        for bad in ["torchvision.resnet20", "torchvision.mobilenetv2", "torchvision.", "torchvision.vgg16"] {
            let err = bad.parse::<Arch>().unwrap_err().to_string();
            assert!(err.starts_with(&format!("unknown model '{bad}'")) && err.contains("mobilenet_v2"), "{err}");
        }
    }

    #[test]
    fn official_spellings_and_errors() {
        assert_eq!("mobilenet_v2".parse::<Arch>().unwrap(), Arch::MobileNetV2);
        assert_eq!("resnext29".parse::<Arch>().unwrap(), Arch::ResNeXt29_8x64d);
        assert_eq!("WRN_28_10".parse::<Arch>().unwrap(), Arch::Wrn { depth: 28, widen: 10 });
        assert_eq!("resnet110".parse::<Arch>().unwrap(), Arch::CifarResNet { depth: 110 });
        for bad in ["resnet19", "wrn-17-2", "vgg", "resnet", "wrn-16"] {
            let err = bad.parse::<Arch>().unwrap_err();
            assert!(err.to_string().starts_with(&format!("unknown model '{bad}'")), "{err}");
        }
    }
}
