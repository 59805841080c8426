//! The training step — one for every path that trains or times training: the runs themselves (one run, or a
//! fused array of runs), `bench models`, `bench array` and the estimate's probes. A step is the fused model's
//! forward over every member's batch (train mode, each member's dropout drawn from its own key, bf16 autocast
//! where asked), each member's loss against its labels (and its teacher's logits), their sum, backward, and
//! tfkd's own SGD update with each member's learning rate, momentum and weight decay.

use tch::{nn::VarStore, Device, Kind, Tensor};
use tfkd_losses::{Loss, LossTerms};
use tfkd_models::{member, Arch, MemoryFormat, ModelConfig, Network};

use crate::{autocast, error::Result, sgd::Sgd};

/// A fused model of `members` runs of one architecture, with its optimiser.
#[derive(Debug)]
pub struct Step {
    /// The model's variables (member `a`'s slice of every tensor is that run's).
    pub vs: VarStore,
    /// The fused model.
    pub net: Network,
    /// The optimiser (its momentum buffers are checkpointed per member).
    pub sgd: Sgd,
    members: i64,
    bf16: bool,
    format: MemoryFormat,
}

/// Per-member optimiser settings.
#[derive(Debug, Clone)]
pub struct Hyper {
    /// Momentum of each member.
    pub momentum: Vec<f64>,
    /// Weight decay of each member.
    pub weight_decay: Vec<f64>,
    /// Nesterov momentum (shared: it is part of what makes runs fusable).
    pub nesterov: bool,
}

impl Hyper {
    /// The official CIFAR settings (momentum 0.9, weight decay 5e-4, no Nesterov) for `members` runs: what
    /// benchmarks and probes time.
    #[must_use]
    pub fn official(members: usize) -> Hyper {
        Hyper { momentum: vec![0.9; members], weight_decay: vec![5e-4; members], nesterov: false }
    }
}

impl Step {
    /// A freshly initialised fused model of `arch` (`single` is one member's configuration) on `device`, one
    /// member per entry of `hyper`; `bf16` runs forwards under bf16 autocast (CUDA only). Its variables and
    /// inputs are laid out in [`MemoryFormat::for_run`]'s format.
    pub fn new(device: Device, arch: Arch, single: ModelConfig, hyper: &Hyper, bf16: bool) -> Result<Step> {
        let members = hyper.momentum.len() as i64;
        let vs = VarStore::new(device);
        let format = MemoryFormat::for_run(arch, single.width, device, members);
        let net = Network::build(&vs, arch, single.with_members(members))?;
        format.apply(&vs);
        let sgd = Sgd::new(&vs, &hyper.momentum, &hyper.weight_decay, hyper.nesterov);
        Ok(Step { vs, net, sgd, members, bf16, format })
    }

    /// The memory layout the model trains in.
    #[must_use]
    pub fn memory_format(&self) -> MemoryFormat {
        self.format
    }

    /// Members in the fused model.
    #[must_use]
    pub fn members(&self) -> i64 {
        self.members
    }

    /// Whether forwards run under bf16 autocast.
    #[must_use]
    pub fn bf16(&self) -> bool {
        self.bf16
    }

    /// The fused forward of each member's batch `xs[a]` in train mode, member `a`'s dropout masks drawn from
    /// `dropout_keys[a]`; f32 logits of every member side by side ([`member::logits`] takes one out).
    pub fn forward(&self, xs: &[Tensor], dropout_keys: &[u64]) -> Tensor {
        let x = self.format.input(&member::stack_inputs(xs));
        tfkd_models::with_dropout_keys(dropout_keys, || autocast::bf16(self.bf16, || self.net.forward(&x, true)))
            .to_kind(Kind::Float)
    }

    /// Member `a`'s logits in the fused output.
    pub fn logits(&self, fused: &Tensor, a: usize) -> Tensor {
        member::logits(fused, a as i64, self.members)
    }

    /// Sets each member's learning rate and, when there is a loss (some member still trains), takes its
    /// gradient and the SGD update.
    pub fn apply(&mut self, total: Option<Tensor>, lr: &[f64]) -> Result<()> {
        self.sgd.set_lr(lr);
        if let Some(total) = total {
            self.sgd.zero_grad();
            total.backward();
            self.sgd.step()?;
        }
        Ok(())
    }

    /// Member `a`'s logits in the fused output and its loss terms: `loss` against `y` (and its teacher's logits),
    /// with the losses' value checks when `checks` (the runs check on the CPU, where a check costs little and a
    /// non-finite value is then named where it arose).
    pub fn member_loss(
        &self,
        fused: &Tensor,
        a: usize,
        (loss, y, teacher): (&Loss, &Tensor, Option<&Tensor>),
        checks: bool,
    ) -> tfkd_losses::Result<(Tensor, LossTerms)> {
        let logits = self.logits(fused, a);
        let terms = tfkd_losses::with_value_checks(checks, || loss.compute(&logits, y, teacher))?;
        Ok((logits, terms))
    }

    /// One whole step for every member — forward, `losses[a]` against `ys[a]` (and `teacher[a]`'s logits) with
    /// the runs' value checks, summed, applied with `lr` — as the runs take it (they also keep metrics of each
    /// member's batch); each member's loss terms.
    pub fn train(
        &mut self,
        xs: &[Tensor],
        ys: &[Tensor],
        losses: &[Loss],
        teacher: &[Option<Tensor>],
        lr: &[f64],
    ) -> Result<Vec<LossTerms>> {
        let keys: Vec<u64> = (0..xs.len() as u64).collect();
        let fused = self.forward(xs, &keys);
        let checks = !self.vs.device().is_cuda();
        let terms = (0..xs.len())
            .map(|a| {
                let t = teacher.get(a).and_then(Option::as_ref);
                self.member_loss(&fused, a, (&losses[a], &ys[a], t), checks).map(|(_, terms)| terms)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let total = terms.iter().map(|t| t.total.shallow_clone()).reduce(|x, y| x + y);
        self.apply(total, lr)?;
        Ok(terms)
    }

    /// Member-stacked forward in eval mode of the same batch for every member, without gradients.
    pub fn evaluate(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let stacked = if self.members == 1 { x.shallow_clone() } else { x.repeat([1, self.members, 1, 1]) };
            let stacked = self.format.input(&stacked);
            autocast::bf16(self.bf16, || self.net.forward(&stacked, false))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MobileNetV2 at width 1 trains channels-last on the CPU: the same function of the same weights as in the
    /// contiguous layout (other convolution kernels: equal up to rounding), and a step updates every weight
    /// the same way.
    #[test]
    fn a_channels_last_step_is_the_contiguous_step() {
        tch::manual_seed(3);
        let config = ModelConfig::new(10);
        let mut last = Step::new(Device::Cpu, Arch::MobileNetV2, config, &Hyper::official(1), false).unwrap();
        assert_eq!(last.memory_format(), MemoryFormat::ChannelsLast);
        let mut plain = Step::new(Device::Cpu, Arch::MobileNetV2, config, &Hyper::official(1), false).unwrap();
        let weights = member::weights(&last.vs, 0, 1);
        member::set_weights(&plain.vs, 0, 1, &weights).unwrap();
        tch::no_grad(|| {
            for (_, mut v) in plain.vs.variables() {
                let c = v.contiguous();
                v.set_data(&c);
            }
        });
        plain.sgd = Sgd::new(&plain.vs, &[0.9], &[5e-4], false);
        plain.format = MemoryFormat::Contiguous;
        let four_d = |s: &Step| s.vs.variables().into_values().filter(|v| v.dim() == 4).collect::<Vec<_>>();
        assert!(four_d(&last).iter().all(|v| v.permute([0, 2, 3, 1]).is_contiguous()));
        assert!(four_d(&plain).iter().all(Tensor::is_contiguous));
        // MobileNetV2's kernels are 1×1 or depthwise, whose two layouts coincide in memory: what changes is the
        // activations', from the input on.
        let x = Tensor::rand([16, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert!(tfkd_models::is_channels_last(&last.format.input(&x)));
        let before: Vec<(String, Tensor)> = weights.iter().map(|(k, v)| (k.clone(), v.copy())).collect();
        drop(weights);
        let y = Tensor::arange(16, (Kind::Int64, Device::Cpu)).remainder(10);
        // The same function of the same weights (eval mode: batch norm's running statistics).
        let (fa, fb) = (last.evaluate(&x), plain.evaluate(&x));
        assert!((&fa - &fb).abs().max().double_value(&[]) <= 1e-5 * fa.abs().max().double_value(&[]).max(1e-3));
        let loss = Loss::CrossEntropy(tfkd_losses::CrossEntropy);
        let mut losses = Vec::new();
        for step in [&mut last, &mut plain] {
            let terms = step.train(&[x.shallow_clone()], &[y.shallow_clone()], &[loss], &[], &[0.1]).unwrap();
            losses.push(terms[0].total.double_value(&[]));
        }
        assert!((losses[0] - losses[1]).abs() <= 1e-4 * losses[0].abs(), "losses {losses:?}");
        // Batch norm's batch statistics magnify the kernels' rounding differences in gradients that are nearly
        // zero (PyTorch's own channels-last step differs as much there), so the updates are compared as one
        // vector; and no weight may be left where it was.
        let (after_last, after_plain) = (member::weights(&last.vs, 0, 1), member::weights(&plain.vs, 0, 1));
        let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
        for (((name, a), (_, b)), (_, w0)) in after_last.iter().zip(&after_plain).zip(&before) {
            let (da, db) = (a - w0, b - w0);
            dot += (&da * &db).sum(Kind::Double).double_value(&[]);
            na += da.square().sum(Kind::Double).double_value(&[]);
            nb += db.square().sum(Kind::Double).double_value(&[]);
            if name.ends_with("weight") {
                assert!(!a.equal(w0), "{name} was not updated");
            }
        }
        let cosine = dot / (na * nb).sqrt();
        assert!(cosine > 0.999, "the layouts' updates: cosine {cosine}");
    }
}
