//! The CIFAR model zoo of the paper's official code and torchvision's ImageNet models, built with tch, plus
//! width scaling for CPU budgets.
//!
//! The ImageNet models (`torchvision.<name>`, [`torchvision`]) have torchvision's structure, init and
//! `state_dict` names exactly. CIFAR models are named by [`Arch`] (the names used in specs and tables), built for K classes, C input
//! channels and any input size (global average pooling before every classifier; the official
//! ResNet/ResNeXt hard-wire 32×32 with fixed pooling sizes, docs/paper.md §5). At `width = 1`,
//! K = 100 the parameter counts equal the official code's exactly (tested). Layer names equal the
//! official PyTorch `state_dict` keys, so checkpoints map one to one.
//!
//! This crate depends on libtorch (tch) only; it knows nothing of losses, data or specs.

mod checkpoint;
mod cnn5;
mod densenet;
mod googlenet;
pub mod kernels;
pub mod layers;
mod layout;
pub mod member;
mod mobilenetv2;
mod resnet;
mod resnext;
mod shufflenetv2;
pub mod torchvision;
pub mod width;
mod wrn;

use tch::{nn, nn::ModuleT, Device, Tensor};

pub use checkpoint::{load, save, CheckpointError, Teacher};
pub use layers::with_dropout_keys;
pub use layout::{is_channels_last, MemoryFormat};
pub use tfkd_names::{Arch, ParseArchError, Torchvision};

/// What to build besides the architecture: classes, input channels, width and reproduction quirks.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// K, the number of classes.
    pub classes: i64,
    /// Input channels: 3 for colour images, 1 for (Fashion-)MNIST.
    pub in_channels: i64,
    /// Channel multiplier; 1 is the paper's model.
    pub width: f64,
    /// Reproduce the official GoogLeNet's `BatchNorm2d(n, n)` accident (eps = n); see [`Arch::GoogLeNet`].
    pub googlenet_bn_eps_quirk: bool,
    /// Members of a fused training array (1: a single model); see [`layers`] and [`member`].
    #[serde(default = "one")]
    pub members: i64,
}

fn one() -> i64 {
    1
}

impl ModelConfig {
    /// K classes, 3 input channels, full width, no quirks, one member.
    #[must_use]
    pub fn new(classes: i64) -> Self {
        ModelConfig { classes, in_channels: 3, width: 1.0, googlenet_bn_eps_quirk: false, members: 1 }
    }

    /// The same model as `members` fused members.
    #[must_use]
    pub fn with_members(self, members: i64) -> Self {
        ModelConfig { members, ..self }
    }
}

/// A built model: its variables live in the [`nn::VarStore`] it was built in.
pub struct Network {
    arch: Arch,
    config: ModelConfig,
    module: Box<dyn ModuleT + Send>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("arch", &self.arch).field("config", &self.config).finish_non_exhaustive()
    }
}

/// Why a model could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// A configuration value is out of range.
    #[error("invalid model configuration: {0}")]
    Invalid(String),
    /// The architecture's own parameters are out of range.
    #[error("invalid model configuration: {0}")]
    Arch(#[from] tfkd_names::SettingError),
}

impl Network {
    /// Builds `arch` with fresh weights under `vs.root()`; the RNG is libtorch's (seed it with `tch::manual_seed`).
    pub fn build(vs: &nn::VarStore, arch: Arch, config: ModelConfig) -> Result<Self, BuildError> {
        if config.classes < 1 {
            return Err(BuildError::Invalid(format!("classes = {} must be >= 1", config.classes)));
        }
        if !matches!(config.in_channels, 1..=4) {
            return Err(BuildError::Invalid(format!("in_channels = {} must be 1..=4", config.in_channels)));
        }
        if config.members < 1 {
            return Err(BuildError::Invalid(format!("members = {} must be >= 1", config.members)));
        }
        if !(config.width > 0.0 && config.width <= 4.0) {
            return Err(BuildError::Invalid(format!("width = {} must lie in (0, 4]", config.width)));
        }
        arch.validate()?;
        let p = &vs.root();
        let c = &config;
        let module: Box<dyn ModuleT + Send> = match arch {
            Arch::ResNet18 => Box::new(resnet::ResNet::imagenet_style(p, c, [2, 2, 2, 2], false)),
            Arch::ResNet34 => Box::new(resnet::ResNet::imagenet_style(p, c, [3, 4, 6, 3], false)),
            Arch::ResNet50 => Box::new(resnet::ResNet::imagenet_style(p, c, [3, 4, 6, 3], true)),
            Arch::ResNet101 => Box::new(resnet::ResNet::imagenet_style(p, c, [3, 4, 23, 3], true)),
            Arch::CifarResNet { depth } => Box::new(resnet::ResNet::cifar(p, c, depth as usize)),
            Arch::ResNeXt29_8x64d => Box::new(resnext::ResNeXt::new(p, c, 8, 29, 64)),
            Arch::MobileNetV2 => Box::new(mobilenetv2::MobileNetV2::new(p, c)),
            Arch::ShuffleNetV2 => Box::new(shufflenetv2::ShuffleNetV2::new(p, c)),
            Arch::GoogLeNet => Box::new(googlenet::GoogLeNet::new(p, c)),
            Arch::DenseNet121 => Box::new(densenet::DenseNet::new(p, c, &[6, 12, 24, 16])),
            Arch::Wrn { depth, widen } => Box::new(wrn::WideResNet::new(p, c, depth, widen)),
            Arch::Cnn5 => Box::new(cnn5::Cnn5::new(p, c)),
            Arch::Torchvision(tv) => torchvision::build(p, c, tv),
        };
        Ok(Network { arch, config, module })
    }

    /// The architecture.
    #[must_use]
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The configuration it was built with.
    #[must_use]
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Logits for a batch of images; `train` selects batch statistics and dropout. One member: N×C×H×W in,
    /// N×K out. `m` members: N×(m·C)×H×W in (member a's images in channels `[a·C, (a+1)·C)`), N×(m·K) out.
    pub fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        self.module.forward_t(xs, train)
    }

    /// Members of the array (1 for a single model).
    #[must_use]
    pub fn members(&self) -> i64 {
        self.config.members
    }

    /// Forward FLOPs per image of all members (2 × multiply-accumulates of convs and linears) at the given size.
    #[must_use]
    pub fn flops(&self, height: i64, width: i64, device: Device) -> u64 {
        self.forward_cost(height, width, device).flops
    }

    /// Forward FLOPs per image and the conv and linear layers one forward pass runs, at the given size.
    #[must_use]
    pub fn forward_cost(&self, height: i64, width: i64, device: Device) -> ForwardCost {
        let channels = self.config.in_channels * self.config.members;
        let x = Tensor::zeros([1, channels, height, width], (tch::Kind::Float, device));
        let (_, counted) = layers::count_macs(|| tch::no_grad(|| self.forward(&x, false)));
        ForwardCost { flops: 2 * counted.macs, layers: counted.layers }
    }
}

/// The cost of one forward pass of one image ([`Network::forward_cost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardCost {
    /// FLOPs: 2 × the multiply-accumulates of the conv and linear layers.
    pub flops: u64,
    /// Conv and linear layers run.
    pub layers: u64,
}

/// Number of trainable parameters in a VarStore (what PyTorch's `sum(p.numel() for p in parameters())` counts).
#[must_use]
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64
}
