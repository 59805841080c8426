//! SGD exactly as PyTorch's `torch.optim.SGD` (dampening 0), with inspectable momentum buffers.
//!
//! tch's optimiser hides its state, which makes a bit-exact resume impossible; this one keeps the
//! momentum buffers as named tensors that checkpoints save and restore.
//!
//! ```text
//! d = grad + weight_decay · p
//! buf = d (first step) or momentum · buf + d
//! d = d + momentum · buf (Nesterov) or buf
//! p = p − lr · d
//! ```

use std::collections::BTreeMap;

use tch::{nn::VarStore, Tensor};

use crate::error::Result;

/// SGD with momentum and weight decay over every trainable variable of a VarStore.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    buffers: BTreeMap<String, Tensor>,
    momentum: f64,
    weight_decay: f64,
    nesterov: bool,
    lr: f64,
}

impl Sgd {
    /// An optimiser over `vs`'s trainable variables, in name order.
    #[must_use]
    pub fn new(vs: &VarStore, momentum: f64, weight_decay: f64, nesterov: bool) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Sgd { params, buffers: BTreeMap::new(), momentum, weight_decay, nesterov, lr: 0.0 }
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update from the current gradients.
    pub fn step(&mut self) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for (name, p) in &mut self.params {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let mut d =
                    if self.weight_decay != 0.0 { grad.f_add(&p.f_mul_scalar(self.weight_decay)?)? } else { grad };
                if self.momentum != 0.0 {
                    let buf = match self.buffers.get_mut(name) {
                        Some(buf) => {
                            let _ = buf.f_mul_scalar_(self.momentum)?.f_add_(&d)?;
                            buf.shallow_clone()
                        }
                        None => {
                            let buf = d.f_detach()?.f_clone(&d)?;
                            self.buffers.insert(name.clone(), buf.shallow_clone());
                            buf
                        }
                    };
                    d = if self.nesterov { d.f_add(&buf.f_mul_scalar(self.momentum)?)? } else { buf };
                }
                let _ = p.f_sub_(&d.f_mul_scalar(self.lr)?)?;
            }
            Ok(())
        })
    }

    /// The momentum buffers by parameter name (for checkpoints).
    #[must_use]
    pub fn buffers(&self) -> &BTreeMap<String, Tensor> {
        &self.buffers
    }

    /// Restores momentum buffers saved by [`Sgd::buffers`].
    pub fn set_buffers(&mut self, buffers: BTreeMap<String, Tensor>) {
        self.buffers = buffers;
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
        let mut opt = Sgd::new(&vs, 0.9, 0.01, false);
        opt.set_lr(0.1);
        for _ in 0..2 {
            opt.zero_grad();
            (&w * &w).sum(Kind::Float).backward(); // grad = 2w
            opt.step().unwrap();
        }
        // step 1: d = 2 + 0.01 = 2.01, buf = 2.01, w = 1 − 0.201 = 0.799
        // step 2: d = 1.598 + 0.00799 = 1.60599, buf = 0.9·2.01 + 1.60599 = 3.41499, w = 0.799 − 0.341499
        assert!((w.double_value(&[0]) - 0.457_501).abs() < 1e-6, "{}", w.double_value(&[0]));
        assert!((opt.buffers()["w"].double_value(&[0]) - 3.41499).abs() < 1e-5);
    }
}
