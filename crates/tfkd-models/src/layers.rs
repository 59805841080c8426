//! The layers of the zoo, with PyTorch's default initialisation, MAC counting, and a member dimension.
//!
//! **Members (fused training arrays).** Every layer is built for `m` members: independent copies of the
//! same model trained together as one, as in HFTA (Wang et al., "Horizontally Fused Training Array",
//! MLSys 2021). Activations are `N × (m·C) × H × W` with member `a`'s channels in the block
//! `[a·C, (a+1)·C)`; a convolution with `g` groups becomes one with `m·g` groups, batch norm runs over the
//! `m·C` channels (its statistics are per channel, hence per member), a linear layer is one batched
//! product, and every channel-wise operation — concatenation, split, shuffle, zero-padding of channels,
//! dropout masks — stays within each member's block ([`cat`], [`split`], [`shuffle`], [`pad_channels`],
//! [`dropout`]). Every variable's first dimension is `m` times the single model's, member by member, so a
//! member's weights are a slice ([`crate::member`]) and save to exactly the files a single run writes.
//! With `m = 1` every layer is the plain PyTorch layer.
//!
//! tch's defaults differ from PyTorch's (`kaiming_uniform` with ReLU gain instead of a = √5), so every layer
//! states its init. Each forward also adds its multiply-accumulates (and one layer) to a thread-local counter
//! while [`count_macs`] runs, which is how `tfkd models` reports FLOPs without a formula per architecture.

use std::cell::{Cell, RefCell};

use tch::{nn, nn::ModuleT, Tensor};

thread_local! {
    static MACS: Cell<Option<Counted>> = const { Cell::new(None) };
    static DROPOUT: RefCell<Option<DropoutDraws>> = const { RefCell::new(None) };
}

/// What [`count_macs`] counted: the work of the conv and linear layers a forward pass ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Multiply-accumulates.
    pub macs: u64,
    /// Conv and linear layers run (each usually with its normalisation and activation): a measure of how many
    /// kernels a step launches, whose fixed cost dominates small models on a CPU.
    pub layers: u64,
}

fn add_macs(macs: i64) {
    MACS.with(|m| {
        if let Some(total) = m.get() {
            m.set(Some(Counted { macs: total.macs + macs as u64, layers: total.layers + 1 }));
        }
    });
}

/// Runs `f` and returns its result with the multiply-accumulates and the number of the conv and linear layers it
/// ran.
pub fn count_macs<T>(f: impl FnOnce() -> T) -> (T, Counted) {
    MACS.with(|m| m.set(Some(Counted::default())));
    let out = f();
    (out, MACS.with(|m| m.replace(None)).unwrap_or_default())
}

/// How a layer's weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's default: weight and bias ~ U(−1/√fan_in, 1/√fan_in).
    PyTorch,
    /// `kaiming_normal(mode='fan_out')` weights (std √(2/fan_out)), zero bias: ResNeXt and WRN, and
    /// torchvision's ResNet and MobileNetV2.
    KaimingFanOut,
    /// `kaiming_normal()` with its defaults (mode `fan_in`, std √(2/fan_in)), zero bias: torchvision's DenseNet.
    KaimingFanIn,
}

/// A 2-D convolution (of `m` members: `m·groups` groups).
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
    /// Channel groups of one member (depthwise when equal to the channel count).
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

/// Builds a convolution `c_in → c_out` (per member) of `m` members under path `p`.
pub fn conv(p: nn::Path, m: i64, c_in: i64, c_out: i64, s: ConvSpec) -> Conv {
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
        Init::KaimingFanIn => {
            let stdev = (2.0 / fan_in as f64).sqrt();
            (nn::Init::Randn { mean: 0.0, stdev }, nn::Init::Const(0.0))
        }
    };
    let cfg = nn::ConvConfig {
        stride: s.stride,
        padding: s.padding,
        groups: m * s.groups,
        bias: s.bias,
        ws_init,
        bs_init,
        ..Default::default()
    };
    Conv { conv: nn::conv2d(p, m * c_in, m * c_out, s.k, cfg), macs_per_output: fan_in }
}

impl ModuleT for Conv {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let out = xs.apply(&self.conv);
        add_macs(out.numel() as i64 * self.macs_per_output);
        out
    }
}

/// How a batch norm's affine weight is drawn (its bias is always 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnWeight {
    /// U(0, 1): tch's `BatchNormConfig` default, and PyTorch's before 1.2. The CIFAR zoo's layers use it
    /// ([`bn`], [`bn_eps`], [`step`]); PyTorch 1.2, which the official code pins (docs/paper.md §4.1), sets 1.
    Uniform,
    /// 1: PyTorch ≥ 1.2's `BatchNorm` default and torchvision's explicit `constant_(weight, 1)`.
    Ones,
}

/// Batch norm over `c` channels of each of `m` members: momentum 0.1, the given eps and weight init, bias 0.
pub fn batch_norm(p: nn::Path, m: i64, c: i64, eps: f64, weight: BnWeight) -> nn::BatchNorm {
    let ws_init = match weight {
        BnWeight::Uniform => nn::Init::Uniform { lo: 0.0, up: 1.0 },
        BnWeight::Ones => nn::Init::Const(1.0),
    };
    nn::batch_norm2d(
        p,
        m * c,
        nn::BatchNormConfig { eps, ws_init, bs_init: nn::Init::Const(0.0), ..Default::default() },
    )
}

/// Batch norm over `c` channels of each of `m` members with tch's defaults: weight ~ U(0, 1) (not
/// PyTorch ≥ 1.2's 1, see [`BnWeight::Uniform`]), bias 0, momentum 0.1.
pub fn bn_eps(p: nn::Path, m: i64, c: i64, eps: f64) -> nn::BatchNorm {
    batch_norm(p, m, c, eps, BnWeight::Uniform)
}

/// [`bn_eps`] with PyTorch's default eps 1e-5.
pub fn bn(p: nn::Path, m: i64, c: i64) -> nn::BatchNorm {
    bn_eps(p, m, c, 1e-5)
}

/// Batch norm as PyTorch ≥ 1.2 and torchvision initialise it: weight 1, bias 0, eps 1e-5, momentum 0.1.
pub fn bn_ones(p: nn::Path, m: i64, c: i64) -> nn::BatchNorm {
    batch_norm(p, m, c, 1e-5, BnWeight::Ones)
}

/// Batch norm over the `c` features of each of `m` members of an `N × (m·c)` matrix.
pub fn bn1d(p: nn::Path, m: i64, c: i64) -> nn::BatchNorm {
    nn::batch_norm1d(p, m * c, Default::default())
}

/// A fully-connected layer of `m` members: weight `(m·c_out) × c_in`, bias `m·c_out`.
#[derive(Debug)]
pub struct Linear {
    linear: nn::Linear,
    members: i64,
}

/// How a [`Linear`] layer's weight and bias are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinearInit {
    /// PyTorch's default: weight and bias ~ U(−1/√fan_in, 1/√fan_in).
    PyTorch,
    /// `kaiming_normal` (fan-in) weight, zero bias: the CIFAR ResNeXt's classifier.
    KaimingNormal,
    /// PyTorch's default weight, zero bias: torchvision's DenseNet classifier.
    ZeroBias,
    /// Weight ~ N(0, std²), zero bias: torchvision's MobileNetV2 classifier (std 0.01).
    Normal {
        /// Standard deviation of the weight.
        std: f64,
    },
}

/// Builds a linear layer with PyTorch's default init, or `kaiming_normal` (fan-in) weights and zero bias.
pub fn linear(p: nn::Path, m: i64, c_in: i64, c_out: i64, kaiming_normal: bool) -> Linear {
    linear_init(p, m, c_in, c_out, if kaiming_normal { LinearInit::KaimingNormal } else { LinearInit::PyTorch })
}

/// Builds a linear layer of `m` members with the given initialisation.
pub fn linear_init(p: nn::Path, m: i64, c_in: i64, c_out: i64, init: LinearInit) -> Linear {
    let bound = 1.0 / (c_in as f64).sqrt();
    let uniform = nn::Init::Uniform { lo: -bound, up: bound };
    let (ws_init, bs_init) = match init {
        LinearInit::PyTorch => (uniform, uniform),
        LinearInit::KaimingNormal => {
            (nn::Init::Randn { mean: 0.0, stdev: (2.0 / c_in as f64).sqrt() }, nn::Init::Const(0.0))
        }
        LinearInit::ZeroBias => (uniform, nn::Init::Const(0.0)),
        LinearInit::Normal { std } => (nn::Init::Randn { mean: 0.0, stdev: std }, nn::Init::Const(0.0)),
    };
    let cfg = nn::LinearConfig { ws_init, bs_init: Some(bs_init), bias: true };
    // nn::linear(p, in, out) makes an out×in weight: with in = c_in and out = m·c_out, member a's rows are
    // the block [a·c_out, (a+1)·c_out), its own out×in matrix.
    Linear { linear: nn::linear(p, c_in, m * c_out, cfg), members: m }
}

impl ModuleT for Linear {
    /// `N × (m·c_in)` in, `N × (m·c_out)` out; member a's inputs and outputs are its own blocks. Each member
    /// is the single model's product (one small matrix product per member rather than one batched product:
    /// the same bits as alone, and linear layers are a sliver of these models' work).
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let m = self.members;
        let (out_total, c_in) = self.linear.ws.size2().unwrap_or((0, 0));
        let out = if m == 1 {
            xs.apply(&self.linear)
        } else {
            let c_out = out_total / m;
            let bias = self.linear.bs.as_ref().expect("every linear layer has a bias");
            let parts: Vec<Tensor> = (0..m)
                .map(|a| {
                    let x = xs.narrow(1, a * c_in, c_in);
                    x.linear(&self.linear.ws.narrow(0, a * c_out, c_out), Some(bias.narrow(0, a * c_out, c_out)))
                })
                .collect();
            Tensor::cat(&parts, 1)
        };
        add_macs(out.numel() as i64 * c_in);
        out
    }
}

/// Global average pooling to 1×1 followed by flattening to N×C: makes every model input-size agnostic.
pub fn global_pool(xs: &Tensor) -> Tensor {
    xs.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
}

/// `xs` (N × (m·C) × H × W) seen as N × m × C × H × W.
fn members_view(xs: &Tensor, m: i64) -> Tensor {
    let s = xs.size();
    let mut shape = vec![s[0], m, s[1] / m];
    shape.extend_from_slice(&s[2..]);
    xs.view(shape.as_slice())
}

/// N × m × C × … back to N × (m·C) × ….
fn fused_view(xs: &Tensor) -> Tensor {
    let s = xs.size();
    let mut shape = vec![s[0], s[1] * s[2]];
    shape.extend_from_slice(&s[3..]);
    xs.reshape(shape.as_slice())
}

/// Concatenates channel blocks member by member: each member's output holds its own parts, in order.
pub fn cat(parts: &[Tensor], m: i64) -> Tensor {
    if m == 1 {
        return Tensor::cat(parts, 1);
    }
    let views: Vec<Tensor> = parts.iter().map(|p| members_view(p, m)).collect();
    fused_view(&Tensor::cat(&views, 2))
}

/// Splits every member's channels into parts of the given sizes (the inverse of [`cat`]).
pub fn split(xs: &Tensor, sizes: &[i64], m: i64) -> Vec<Tensor> {
    if m == 1 {
        return xs.split_with_sizes(sizes, 1);
    }
    members_view(xs, m).split_with_sizes(sizes, 2).iter().map(fused_view).collect()
}

/// ShuffleNet's channel shuffle with `groups` groups, within each member.
pub fn shuffle(xs: &Tensor, groups: i64, m: i64) -> Tensor {
    let (n, c, h, w) = xs.size4().expect("4-D activations");
    let per = c / m;
    xs.view([n, m, groups, per / groups, h, w]).transpose(2, 3).contiguous().view([n, c, h, w])
}

/// `shuffle(&cat(&[a, b], m), 2, m)` in one copy where `a` and `b` have the same shape: each member's channels of
/// `a` and `b` interleaved (a₀, b₀, a₁, b₁, …), which is what the concatenation followed by a shuffle of two
/// groups gives — a stack along a new axis after the channels. Pure data movement, so the same values forward
/// and backward (a test compares both bit for bit), with one copy instead of two each way.
pub fn cat_shuffle2(a: &Tensor, b: &Tensor, m: i64) -> Tensor {
    if a.size() != b.size() || a.dim() != 4 {
        return shuffle(&cat(&[a.shallow_clone(), b.shallow_clone()], m), 2, m);
    }
    let (n, c, h, w) = a.size4().expect("4-D activations");
    let per_member = |t: &Tensor| t.reshape([n, m, c / m, h, w]);
    Tensor::stack(&[per_member(a), per_member(b)], 3).view([n, 2 * c, h, w])
}

/// Zero channels added before and after each member's channels (CIFAR ResNet's option-A shortcut).
pub fn pad_channels(xs: &Tensor, before: i64, after: i64, m: i64) -> Tensor {
    if m == 1 {
        return xs.constant_pad_nd([0, 0, 0, 0, before, after]);
    }
    fused_view(&members_view(xs, m).constant_pad_nd([0, 0, 0, 0, before, after]))
}

/// The draws of dropout masks for one forward: one key per member, and a counter over the dropout layers.
#[derive(Debug)]
struct DropoutDraws {
    keys: Vec<u64>,
    layer: u64,
}

/// Runs `f` with dropout masks drawn from `keys` (one per member): in train mode, the mask of layer `l`,
/// sample `n`, unit `j` of member `a` depends on (`keys[a]`, `l`, `n`, `j`) alone. So a member's masks
/// are the same whether it trains alone or in an array, and a run resumed mid-epoch redraws them exactly.
/// The trainer derives one key per member and optimisation step from the run's seed.
pub fn with_dropout_keys<T>(keys: &[u64], f: impl FnOnce() -> T) -> T {
    struct Restore(Option<DropoutDraws>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DROPOUT.with(|d| *d.borrow_mut() = self.0.take());
        }
    }
    let previous = DROPOUT.with(|d| d.borrow_mut().replace(DropoutDraws { keys: keys.to_vec(), layer: 0 }));
    let _restore = Restore(previous);
    f()
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from a counter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Inverted dropout with probability `p` on `units` per sample and member: element-wise (`units` =
/// every feature of an `N × (m·F)` matrix) or whole channels (`Dropout2d` on `N × (m·C) × 1 × 1`).
/// Outside [`with_dropout_keys`] the masks come from key 0 for every member (still deterministic).
pub fn dropout(xs: &Tensor, p: f64, train: bool, m: i64) -> Tensor {
    if !train || p == 0.0 {
        return xs.shallow_clone();
    }
    let s = xs.size();
    let (n, per_member) = (s[0], s[1] / m);
    let (keys, layer) = DROPOUT.with(|d| match d.borrow_mut().as_mut() {
        Some(d) => {
            d.layer += 1;
            (d.keys.clone(), d.layer)
        }
        None => (vec![0; m as usize], 0),
    });
    let keep = 1.0 - p;
    let threshold = (keep * (1u64 << 53) as f64) as u64;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0f32; (n * m * per_member) as usize];
    for (i, v) in mask.iter_mut().enumerate() {
        let i = i as u64;
        let (sample, member, unit) =
            (i / (m * per_member) as u64, (i / per_member as u64) % m as u64, i % per_member as u64);
        let key = keys.get(member as usize).copied().unwrap_or(0);
        let draw = mix(mix(mix(key ^ layer) ^ sample) ^ unit) >> 11;
        *v = if draw < threshold { scale } else { 0.0 };
    }
    let mut shape = vec![n, m * per_member];
    shape.extend(std::iter::repeat_n(1, s.len() - 2));
    let mask = Tensor::from_slice(&mask).view(shape.as_slice()).to_device(xs.device()).to_kind(xs.kind());
    xs * mask
}

/// The activation after a conv + BN step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// None (a "linear" step).
    Identity,
    /// ReLU.
    Relu,
    /// ReLU6 (MobileNetV2): PyTorch's `nn.ReLU6(inplace=True)`, which is `hardtanh_(x, 0, 6)` — the values of
    /// clamp(x, 0, 6), and a gradient that passes where 0 < x < 6 (strictly, as PyTorch's hardtanh backward).
    Relu6,
}

impl Act {
    /// Applies the activation. ReLU6 works in place, as the official models' `ReLU6(inplace=True)` does: its
    /// input is a batch norm's output, which the batch norm's backward does not read. (`clamp`'s backward, a
    /// `where` over two comparisons, made ReLU6 the largest single cost of MobileNetV2's CPU step.)
    pub fn apply(self, xs: Tensor) -> Tensor {
        match self {
            Act::Identity => xs,
            Act::Relu => xs.relu(),
            Act::Relu6 => {
                let mut xs = xs;
                let _ = xs.relu6_();
                xs
            }
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
    /// BN weight initialisation.
    pub bn_weight: BnWeight,
}

/// A conv → BN → activation step with BN eps 1e-5 and tch's U(0, 1) BN weight ([`BnWeight::Uniform`]).
#[must_use]
pub fn step(c_in: i64, c_out: i64, spec: ConvSpec, act: Act) -> Step {
    Step { c_in, c_out, spec, act, bn_eps: 1e-5, bn_weight: BnWeight::Uniform }
}

impl Step {
    /// The same step with PyTorch ≥ 1.2's BN weight 1 ([`BnWeight::Ones`]), as torchvision's models have.
    #[must_use]
    pub fn bn_ones(self) -> Self {
        Step { bn_weight: BnWeight::Ones, ..self }
    }
}

/// A chain of conv → BN → activation steps, with layer names as in a PyTorch `nn.Sequential`
/// (conv at i, BN at i+1, and the activation, when present, takes index i+2).
#[derive(Debug)]
pub struct Chain(Vec<(Conv, nn::BatchNorm, Act)>);

impl Chain {
    /// Builds the chain of `m` members under `p`, numbering modules from `first_index`.
    pub fn new(p: &nn::Path, m: i64, first_index: usize, steps: &[Step]) -> Self {
        let mut idx = first_index;
        let layers = steps
            .iter()
            .map(|s| {
                let c = conv(p / idx, m, s.c_in, s.c_out, s.spec);
                let b = batch_norm(p / (idx + 1), m, s.c_out, s.bn_eps, s.bn_weight);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The one-copy interleave is the concatenation followed by the shuffle, forward and backward, bit for bit,
    /// for one member and for a fused array's members.
    #[test]
    fn cat_shuffle2_is_cat_then_shuffle() {
        for (m, c) in [(1, 6), (3, 12)] {
            let make =
                |seed: f64| (Tensor::arange(2 * c * 5 * 4, (Kind::Float, Device::Cpu)) * seed).sin().view([2, c, 5, 4]);
            let outputs = |fused: bool| {
                let (a, b) = (make(0.37).set_requires_grad(true), make(1.91).set_requires_grad(true));
                // b as the output of an op (as the residual branch is), a as a slice (as the split half is).
                let b2 = &b * 1.0;
                let y = if fused { cat_shuffle2(&a, &b2, m) } else { shuffle(&cat(&[a.shallow_clone(), b2], m), 2, m) };
                let weight =
                    Tensor::arange(y.numel() as i64, (Kind::Float, Device::Cpu)).view(y.size().as_slice()).cos();
                (&y * weight).sum(Kind::Float).backward();
                (y.detach(), a.grad(), b.grad())
            };
            let (y0, ga0, gb0) = outputs(false);
            let (y1, ga1, gb1) = outputs(true);
            assert!(y0.equal(&y1) && ga0.equal(&ga1) && gb0.equal(&gb1), "{m} members");
        }
        // Parts of other sizes fall back to the two steps.
        let (a, b) = (
            Tensor::ones([1, 2, 2, 2], (Kind::Float, Device::Cpu)),
            Tensor::zeros([1, 4, 2, 2], (Kind::Float, Device::Cpu)),
        );
        assert_eq!(cat_shuffle2(&a, &b, 1).size(), vec![1, 6, 2, 2]);
    }
}
