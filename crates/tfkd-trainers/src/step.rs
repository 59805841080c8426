//! The training step — one for every path that trains or times training: the runs themselves (one run, or a
//! fused array of runs), `bench models`, `bench array` and the estimate's probes. A step is the fused model's
//! forward over every member's batch (train mode, each member's dropout drawn from its own key, bf16 autocast
//! where asked), each member's loss against its labels (and its teacher's logits), their sum, backward, and
//! tfkd's own SGD update with each member's learning rate, momentum and weight decay.

use tch::{nn::VarStore, Device, Kind, Tensor};
use tfkd_losses::{Loss, LossTerms};
use tfkd_models::{member, Arch, ModelConfig, Network};

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
    /// member per entry of `hyper`; `bf16` runs forwards under bf16 autocast (CUDA only).
    pub fn new(device: Device, arch: Arch, single: ModelConfig, hyper: &Hyper, bf16: bool) -> Result<Step> {
        let members = hyper.momentum.len() as i64;
        let vs = VarStore::new(device);
        let net = Network::build(&vs, arch, single.with_members(members))?;
        let sgd = Sgd::new(&vs, &hyper.momentum, &hyper.weight_decay, hyper.nesterov);
        Ok(Step { vs, net, sgd, members, bf16 })
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
        let x = member::stack_inputs(xs);
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
            autocast::bf16(self.bf16, || self.net.forward(&stacked, false))
        })
    }
}
