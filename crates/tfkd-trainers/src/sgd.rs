//! SGD exactly as PyTorch's `torch.optim.SGD` (dampening 0), over the members of a fused array, with
//! inspectable momentum buffers.
//!
//! tch's optimiser hides its state, which makes a bit-exact resume impossible; this one keeps the
//! momentum buffers as named tensors that checkpoints save and restore. Each member has its own learning
//! rate, momentum and weight decay (its own run's settings), applied to its rows of every variable
//! (see `tfkd_models::member`); with one member it is the plain update.
//!
//! ```text
//! d = grad + weight_decay · p
//! buf = d (first step) or momentum · buf + d
//! d = d + momentum · buf (Nesterov) or buf
//! p = p − lr · d
//! ```

use std::collections::BTreeMap;

use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::error::Result;

/// SGD with momentum and weight decay over every trainable variable of a VarStore of `members` members.
///
/// The update runs on a `members × n` view of each parameter, its gradient and its momentum buffer. A
/// channels-last parameter (`tfkd_models::MemoryFormat`) is viewed through its N×H×W×C permutation (its
/// memory order), its gradient in the same element order; its momentum buffer is kept in that order and
/// handed to checkpoints as the logical N×C×H×W tensor, so a checkpoint does not depend on the layout.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    /// The parameters laid out channels-last.
    nhwc: std::collections::BTreeSet<String>,
    buffers: BTreeMap<String, Tensor>,
    members: i64,
    momentum: Tensor,
    weight_decay: Tensor,
    uses_momentum: bool,
    uses_weight_decay: bool,
    nesterov: bool,
    lr: Tensor,
    device: Device,
}

/// A per-member column vector (members × 1) on `device`, in f32 like the weights.
fn column(values: &[f64], device: Device) -> Tensor {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_slice(&v).view([-1, 1]).to_device(device)
}

impl Sgd {
    /// An optimiser over `vs`'s trainable variables, in name order; one momentum and weight decay per member.
    #[must_use]
    pub fn new(vs: &VarStore, momentum: &[f64], weight_decay: &[f64], nesterov: bool) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let device = vs.device();
        let nhwc = params.iter().filter(|(_, p)| tfkd_models::is_channels_last(p)).map(|(k, _)| k.clone()).collect();
        Sgd {
            params,
            nhwc,
            buffers: BTreeMap::new(),
            members: momentum.len() as i64,
            momentum: column(momentum, device),
            weight_decay: column(weight_decay, device),
            uses_momentum: momentum.iter().any(|&m| m != 0.0),
            uses_weight_decay: weight_decay.iter().any(|&w| w != 0.0),
            nesterov,
            lr: column(&vec![0.0; momentum.len()], device),
            device,
        }
    }

    /// Sets each member's learning rate for the next steps.
    pub fn set_lr(&mut self, lr: &[f64]) {
        let v: Vec<f32> = lr.iter().map(|&x| x as f32).collect();
        let host = Tensor::from_slice(&v).view([-1, 1]);
        // A small host→device copy queued without waiting for the device (as the data loaders' uploads).
        self.lr = if self.device.is_cuda() { host.to_device_(self.device, Kind::Float, true, false) } else { host };
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update from the current gradients.
    pub fn step(&mut self) -> Result<()> {
        let m = self.members;
        tch::no_grad(|| -> Result<()> {
            for (name, p) in &mut self.params {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let (pv, gv) = if self.nhwc.contains(name) {
                    // In memory order; the gradient copied into it if autograd laid it out otherwise.
                    let nhwc = |t: &Tensor| t.f_permute([0, 2, 3, 1]);
                    (nhwc(p)?.f_view([m, -1])?, nhwc(&grad)?.f_contiguous()?.f_view([m, -1])?)
                } else {
                    (p.f_view([m, -1])?, grad.f_view([m, -1])?)
                };
                let mut d = if self.uses_weight_decay { gv.f_add(&pv.f_mul(&self.weight_decay)?)? } else { gv };
                if self.uses_momentum {
                    let buf = match self.buffers.get_mut(name) {
                        Some(buf) => {
                            let _ = buf.f_mul_(&self.momentum)?.f_add_(&d)?;
                            buf.shallow_clone()
                        }
                        None => {
                            let buf = d.f_detach()?.f_clone(&d)?;
                            self.buffers.insert(name.clone(), buf.shallow_clone());
                            buf
                        }
                    };
                    d = if self.nesterov { d.f_add(&buf.f_mul(&self.momentum)?)? } else { buf };
                }
                let mut pv = pv;
                let _ = pv.f_sub_(&d.f_mul(&self.lr)?)?;
            }
            Ok(())
        })
    }

    /// Member `member`'s momentum buffers, under the parameter names (for its checkpoint).
    #[must_use]
    pub fn member_buffers(&self, member: i64) -> BTreeMap<String, Tensor> {
        let shapes: BTreeMap<&str, Vec<i64>> = self.params.iter().map(|(k, p)| (k.as_str(), p.size())).collect();
        self.buffers
            .iter()
            .map(|(k, buf)| {
                let mut shape = shapes[k.as_str()].clone();
                shape[0] /= self.members;
                let row = buf.select(0, member);
                if self.nhwc.contains(k) {
                    let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
                    (k.clone(), row.reshape([n, h, w, c]).permute([0, 3, 1, 2]))
                } else {
                    (k.clone(), row.reshape(shape.as_slice()))
                }
            })
            .collect()
    }

    /// Restores the momentum buffers of every member from their checkpoints (`per_member[a]` for member a);
    /// members without buffers (a fresh start) leave them unset.
    pub fn set_member_buffers(&mut self, per_member: &[BTreeMap<String, Tensor>]) -> Result<()> {
        if per_member.iter().all(BTreeMap::is_empty) {
            return Ok(());
        }
        for (name, _) in &self.params {
            let rows: Vec<Tensor> = per_member
                .iter()
                .map(|b| {
                    b.get(name)
                        .map(|t| {
                            let t = t.to_device(self.device);
                            let t =
                                if self.nhwc.contains(name) { t.f_permute([0, 2, 3, 1])?.f_contiguous()? } else { t };
                            t.f_reshape([1, -1])
                        })
                        .transpose()
                })
                .collect::<std::result::Result<Option<Vec<_>>, _>>()?
                .unwrap_or_default();
            if rows.len() == per_member.len() {
                self.buffers.insert(name.clone(), Tensor::f_cat(&rows, 0)?);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    /// Two steps against hand-computed PyTorch SGD(lr=0.1, momentum=0.9, weight_decay=0.01).
    #[test]
    fn matches_pytorch_update_rule() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[1], nn::Init::Const(1.0));
        let mut opt = Sgd::new(&vs, &[0.9], &[0.01], false);
        opt.set_lr(&[0.1]);
        for _ in 0..2 {
            opt.zero_grad();
            (&w * &w).sum(Kind::Float).backward(); // grad = 2w
            opt.step().unwrap();
        }
        // step 1: d = 2 + 0.01 = 2.01, buf = 2.01, w = 1 − 0.201 = 0.799
        // step 2: d = 1.598 + 0.00799 = 1.60599, buf = 0.9·2.01 + 1.60599 = 3.41499, w = 0.799 − 0.341499
        assert!((w.double_value(&[0]) - 0.457_501).abs() < 1e-6, "{}", w.double_value(&[0]));
        assert!((opt.member_buffers(0)["w"].double_value(&[0]) - 3.41499).abs() < 1e-5);
    }

    /// Two members with their own hyper-parameters take exactly the steps each would take alone.
    #[test]
    fn members_update_with_their_own_settings() {
        let settings = [(0.1, 0.9, 0.01), (0.05, 0.0, 0.0)];
        let alone: Vec<f64> = settings
            .iter()
            .map(|&(lr, mom, wd)| {
                let vs = VarStore::new(Device::Cpu);
                let w = vs.root().var("w", &[2], nn::Init::Const(1.0));
                let mut opt = Sgd::new(&vs, &[mom], &[wd], false);
                opt.set_lr(&[lr]);
                for _ in 0..3 {
                    opt.zero_grad();
                    (&w * &w * 3.0).sum(Kind::Float).backward();
                    opt.step().unwrap();
                }
                w.double_value(&[1])
            })
            .collect();
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[4], nn::Init::Const(1.0)); // 2 members × 2
        let mut opt = Sgd::new(&vs, &[0.9, 0.0], &[0.01, 0.0], false);
        opt.set_lr(&[0.1, 0.05]);
        for _ in 0..3 {
            opt.zero_grad();
            (&w * &w * 3.0).sum(Kind::Float).backward();
            opt.step().unwrap();
        }
        assert_eq!((w.double_value(&[1]), w.double_value(&[3])), (alone[0], alone[1]));
        assert_eq!(opt.member_buffers(1)["w"].size(), vec![2]);
    }

    /// A channels-last parameter takes bit for bit the steps its contiguous twin takes (the update is
    /// elementwise), also when its gradient comes laid out otherwise; its momentum reaches checkpoints as the
    /// logical tensor, and a fresh optimiser restored from them continues exactly as the first.
    #[test]
    fn channels_last_parameters_step_as_contiguous_ones() {
        let make = |channels_last: bool| {
            let vs = VarStore::new(Device::Cpu);
            let w = vs.root().var("w", &[4, 3, 2, 5], nn::Init::Uniform { lo: -1.0, up: 1.0 });
            // Values of its own (the global generator is shared with tests running beside this one).
            let values = Tensor::arange(120, (Kind::Float, Device::Cpu)).sin().view([4, 3, 2, 5]);
            tch::no_grad(|| w.shallow_clone().copy_(&values));
            if channels_last {
                tfkd_models::MemoryFormat::ChannelsLast.apply(&vs);
            }
            (vs, w)
        };
        let target = Tensor::arange(120, (Kind::Float, Device::Cpu)).cos().view([4, 3, 2, 5]);
        let train = |opt: &mut Sgd, w: &Tensor, steps: usize| {
            for _ in 0..steps {
                opt.zero_grad();
                // A loss whose gradient is contiguous whatever w's layout.
                ((w - &target).contiguous() * (w - &target).contiguous()).sum(Kind::Float).backward();
                opt.step().unwrap();
            }
        };
        let (vs_a, a) = make(false);
        let (vs_b, b) = make(true);
        assert!(tfkd_models::is_channels_last(&b) && !tfkd_models::is_channels_last(&a));
        let mut opt_a = Sgd::new(&vs_a, &[0.9], &[5e-4], false);
        let mut opt_b = Sgd::new(&vs_b, &[0.9], &[5e-4], false);
        opt_a.set_lr(&[0.1]);
        opt_b.set_lr(&[0.1]);
        train(&mut opt_a, &a, 3);
        train(&mut opt_b, &b, 3);
        assert!(tfkd_models::is_channels_last(&b), "the update kept the layout");
        assert!(a.equal(&b), "same steps");
        let (buf_a, buf_b) = (opt_a.member_buffers(0), opt_b.member_buffers(0));
        assert!(buf_a["w"].equal(&buf_b["w"]), "same logical momentum");
        // Resume the channels-last one from its checkpointed momentum.
        let mut resumed = Sgd::new(&vs_b, &[0.9], &[5e-4], false);
        resumed.set_lr(&[0.1]);
        resumed.set_member_buffers(&[buf_b]).unwrap();
        train(&mut opt_a, &a, 2);
        train(&mut resumed, &b, 2);
        assert!(a.equal(&b), "resumed steps");
    }
}
