//! Convolution, batch-norm and linear layers with PyTorch's default initialisation and MAC counting.
//!
//! tch's defaults differ from PyTorch's (`kaiming_uniform` with ReLU gain instead of a = √5), so
//! every layer here states its init. Each forward also adds its multiply-accumulates to a
//! thread-local counter while [`count_macs`] runs, which is how `tfkd models` reports FLOPs
//! without a hand-written formula per architecture.

use std::cell::Cell;

use tch::{nn, nn::ModuleT, Tensor};

thread_local! {
    static MACS: Cell<Option<u64>> = const { Cell::new(None) };
}

fn add_macs(macs: i64) {
    MACS.with(|m| {
        if let Some(total) = m.get() {
            m.set(Some(total + macs as u64));
        }
    });
}

/// Runs `f` and returns its result with the multiply-accumulates of every conv and linear layer it ran.
pub fn count_macs<T>(f: impl FnOnce() -> T) -> (T, u64) {
    MACS.with(|m| m.set(Some(0)));
    let out = f();
    (out, MACS.with(|m| m.replace(None)).unwrap_or(0))
}

/// How a layer's weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's default: weight and bias ~ U(−1/√fan_in, 1/√fan_in).
    PyTorch,
    /// `kaiming_normal(mode='fan_out')` weights (std √(2/fan_out)), zero bias: ResNeXt and WRN.
    KaimingFanOut,
}

/// A 2-D convolution.
#[derive(Debug)]
pub struct Conv {
    conv: nn::Conv2D,
    macs_per_output: i64,
}

/// Shape and options of a [`Conv`].
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    /// Kernel size (square).
    pub k: i64,
    /// Stride.
    pub stride: i64,
    /// Zero padding on each side.
    pub padding: i64,
    /// Channel groups (depthwise when equal to the channel count).
    pub groups: i64,
    /// Whether the layer has a bias.
    pub bias: bool,
    /// Weight initialisation.
    pub init: Init,
}

impl ConvSpec {
    /// A k×k convolution, stride 1, "same" padding for odd k, with bias and PyTorch init.
    #[must_use]
    pub fn new(k: i64) -> Self {
        ConvSpec { k, stride: 1, padding: k / 2, groups: 1, bias: true, init: Init::PyTorch }
    }
    /// Sets the stride.
    #[must_use]
    pub fn stride(self, stride: i64) -> Self {
        ConvSpec { stride, ..self }
    }
    /// Sets the padding.
    #[must_use]
    pub fn padding(self, padding: i64) -> Self {
        ConvSpec { padding, ..self }
    }
    /// Sets the number of groups.
    #[must_use]
    pub fn groups(self, groups: i64) -> Self {
        ConvSpec { groups, ..self }
    }
    /// Drops the bias.
    #[must_use]
    pub fn no_bias(self) -> Self {
        ConvSpec { bias: false, ..self }
    }
    /// Sets the initialisation.
    #[must_use]
    pub fn init(self, init: Init) -> Self {
        ConvSpec { init, ..self }
    }
}

/// Builds a convolution `c_in → c_out` under path `p`.
pub fn conv(p: nn::Path, c_in: i64, c_out: i64, s: ConvSpec) -> Conv {
    let fan_in = (c_in / s.groups) * s.k * s.k;
    let (ws_init, bs_init) = match s.init {
        Init::PyTorch => {
            let bound = 1.0 / (fan_in as f64).sqrt();
            (nn::Init::Uniform { lo: -bound, up: bound }, nn::Init::Uniform { lo: -bound, up: bound })
        }
        Init::KaimingFanOut => {
            let stdev = (2.0 / (c_out * s.k * s.k) as f64).sqrt();
            (nn::Init::Randn { mean: 0.0, stdev }, nn::Init::Const(0.0))
        }
    };
    let cfg = nn::ConvConfig {
        stride: s.stride,
        padding: s.padding,
        groups: s.groups,
        bias: s.bias,
        ws_init,
        bs_init,
        ..Default::default()
    };
    Conv { conv: nn::conv2d(p, c_in, c_out, s.k, cfg), macs_per_output: fan_in }
}

impl ModuleT for Conv {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let out = xs.apply(&self.conv);
        add_macs(out.numel() as i64 * self.macs_per_output);
        out
    }
}

/// Batch norm over channels with PyTorch's defaults (weight 1, bias 0, momentum 0.1) and the given eps.
pub fn bn_eps(p: nn::Path, c: i64, eps: f64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, nn::BatchNormConfig { eps, ..Default::default() })
}

/// Batch norm over channels with PyTorch's defaults (eps 1e-5).
pub fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    bn_eps(p, c, 1e-5)
}

/// A fully-connected layer.
#[derive(Debug)]
pub struct Linear {
    linear: nn::Linear,
}

/// Builds a linear layer with PyTorch's default init, or `kaiming_normal` (fan-in) weights and zero bias.
pub fn linear(p: nn::Path, c_in: i64, c_out: i64, kaiming_normal: bool) -> Linear {
    let bound = 1.0 / (c_in as f64).sqrt();
    let cfg = if kaiming_normal {
        nn::LinearConfig {
            ws_init: nn::Init::Randn { mean: 0.0, stdev: (2.0 / c_in as f64).sqrt() },
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        }
    } else {
        nn::LinearConfig {
            ws_init: nn::Init::Uniform { lo: -bound, up: bound },
            bs_init: Some(nn::Init::Uniform { lo: -bound, up: bound }),
            bias: true,
        }
    };
    Linear { linear: nn::linear(p, c_in, c_out, cfg) }
}

impl ModuleT for Linear {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let (_, c_in) = self.linear.ws.size2().unwrap_or((0, 0));
        let out = xs.apply(&self.linear);
        add_macs(out.numel() as i64 * c_in);
        out
    }
}

/// Global average pooling to 1×1 followed by flattening to N×C: makes every model input-size agnostic.
pub fn global_pool(xs: &Tensor) -> Tensor {
    xs.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
}

/// The activation after a conv + BN step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// None (a "linear" step).
    Identity,
    /// ReLU.
    Relu,
    /// ReLU6 = clamp(x, 0, 6) (MobileNetV2).
    Relu6,
}

impl Act {
    /// Applies the activation.
    pub fn apply(self, xs: Tensor) -> Tensor {
        match self {
            Act::Identity => xs,
            Act::Relu => xs.relu(),
            Act::Relu6 => xs.clamp(0.0, 6.0),
        }
    }
}

/// One conv → BN → activation step of a [`Chain`].
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Input channels.
    pub c_in: i64,
    /// Output channels.
    pub c_out: i64,
    /// The convolution.
    pub spec: ConvSpec,
    /// Activation after BN.
    pub act: Act,
    /// BN epsilon (1e-5 unless reproducing a quirk).
    pub bn_eps: f64,
}

/// A conv → BN → activation step with BN eps 1e-5.
#[must_use]
pub fn step(c_in: i64, c_out: i64, spec: ConvSpec, act: Act) -> Step {
    Step { c_in, c_out, spec, act, bn_eps: 1e-5 }
}

/// A chain of conv → BN → activation steps, with layer names as in a PyTorch `nn.Sequential`
/// (conv at i, BN at i+1, and the activation, when present, takes index i+2).
#[derive(Debug)]
pub struct Chain(Vec<(Conv, nn::BatchNorm, Act)>);

impl Chain {
    /// Builds the chain under `p`, numbering modules from `first_index`.
    pub fn new(p: &nn::Path, first_index: usize, steps: &[Step]) -> Self {
        let mut idx = first_index;
        let layers = steps
            .iter()
            .map(|s| {
                let c = conv(p / idx, s.c_in, s.c_out, s.spec);
                let b = bn_eps(p / (idx + 1), s.c_out, s.bn_eps);
                idx += if s.act == Act::Identity { 2 } else { 3 };
                (c, b, s.act)
            })
            .collect();
        Chain(layers)
    }
}

impl ModuleT for Chain {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.0.iter().fold(xs.shallow_clone(), |x, (c, b, act)| act.apply(x.apply_t(c, train).apply_t(b, train)))
    }
}
