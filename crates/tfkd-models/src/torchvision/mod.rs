//! torchvision's ImageNet models (`torchvision.<name>`, [`Torchvision`]): the teachers and students of the
//! paper's ImageNet runs (docs/paper.md §4.4).
//!
//! Each model has torchvision's exact structure, initialisation and `state_dict` key names (`conv1.weight`,
//! `layer1.0.downsample.0.weight`, `features.denseblock1.denselayer1.norm1.weight`,
//! `features.1.conv.0.0.weight`, `classifier.1.weight`, …), so at width 1 its VarStore holds exactly
//! torchvision's tensors (tested against torchvision 0.26 in `tests/torchvision_imagenet.rs`). It is built
//! for K classes and any input size (adaptive average pooling, as torchvision), with the zoo's layers, so
//! width scaling and fused arrays (`members`) work as for the CIFAR models.
//!
//! **`num_batches_tracked`.** torchvision's BatchNorm layers carry an int64 `num_batches_tracked` buffer;
//! tch's BatchNorm has none (with `momentum` set, PyTorch never reads it). So our variables are
//! torchvision's state_dict less those keys: an importer of torchvision weights ignores them, and an
//! exporter must write them (0-d int64) for `load_state_dict(strict=True)` to accept the file.
//!
//! **Weights.** [`load_torchvision`] fills a built model from torchvision's `.pth` files (pretrained
//! teachers) and [`export_torchvision`] writes one that torchvision loads strictly; see [`weights`].

mod densenet;
mod mobilenet_v2;
mod resnet;
pub mod weights;

use tch::{nn, nn::ModuleT};

use crate::ModelConfig;
pub use tfkd_names::Torchvision;
pub use weights::{
    export_torchvision, export_weights, load_torchvision, LoadReport, Mismatch, ShapeMismatch, WeightsError,
};

/// The suffix of the BatchNorm buffer torchvision's state_dicts have and tch's VarStores lack.
pub const NUM_BATCHES_TRACKED: &str = "num_batches_tracked";

/// Builds torchvision's `tv` under `p` for the configuration's classes, channels, width and members.
pub(crate) fn build(p: &nn::Path, cfg: &ModelConfig, tv: Torchvision) -> Box<dyn ModuleT + Send> {
    use resnet::{Layout, ResNet};
    let basic = |depths| Layout { depths, bottleneck: false, groups: 1, width_per_group: 64 };
    let bottleneck = |depths, groups, width_per_group| Layout { depths, bottleneck: true, groups, width_per_group };
    match tv {
        Torchvision::ResNet18 => Box::new(ResNet::new(p, cfg, &basic([2, 2, 2, 2]))),
        Torchvision::ResNet34 => Box::new(ResNet::new(p, cfg, &basic([3, 4, 6, 3]))),
        Torchvision::ResNet50 => Box::new(ResNet::new(p, cfg, &bottleneck([3, 4, 6, 3], 1, 64))),
        Torchvision::ResNet101 => Box::new(ResNet::new(p, cfg, &bottleneck([3, 4, 23, 3], 1, 64))),
        Torchvision::ResNet152 => Box::new(ResNet::new(p, cfg, &bottleneck([3, 8, 36, 3], 1, 64))),
        Torchvision::ResNeXt50_32x4d => Box::new(ResNet::new(p, cfg, &bottleneck([3, 4, 6, 3], 32, 4))),
        Torchvision::ResNeXt101_32x8d => Box::new(ResNet::new(p, cfg, &bottleneck([3, 4, 23, 3], 32, 8))),
        Torchvision::DenseNet121 => Box::new(densenet::DenseNet::new(p, cfg, &[6, 12, 24, 16])),
        Torchvision::MobileNetV2 => Box::new(mobilenet_v2::MobileNetV2::new(p, cfg)),
    }
}
