//! Evaluation of an array's members: accuracy, calibration and, for students, agreement with and KL to their
//! teacher, on validation and test; the teachers' probabilities computed once (they are frozen).

use tch::{Device, Kind, Tensor};
use tfkd_analysis::calibration::{Accumulator, Calibration, Example};
use tfkd_datasets::{Images, Loader, LoaderConfig};
use tfkd_models::member;

use super::Array;
use crate::{autocast, error::Result, prepare};

impl Array<'_> {
    /// Each member's teacher softmax on validation and test, computed once (the teachers are frozen).
    pub(super) fn teacher_eval_probs(&self) -> Result<Vec<Option<(Tensor, Tensor)>>> {
        if self.teachers.is_empty() {
            return Ok(self.slots.iter().map(|_| None).collect());
        }
        let mut per_split: Vec<Vec<Option<Tensor>>> = Vec::new();
        for split in [&self.splits.val, &self.splits.test] {
            let mut parts: Vec<Vec<Tensor>> = self.slots.iter().map(|_| Vec::new()).collect();
            for batch in self.eval_loader(split)?.epoch(0, 0) {
                let x = batch?.images.to_device(self.ctx.device);
                let xs: Vec<Tensor> = self.slots.iter().map(|_| x.shallow_clone()).collect();
                let logits = autocast::bf16(self.step.bf16(), || self.teachers.logits(&xs));
                for (a, l) in logits.into_iter().enumerate() {
                    if let Some(l) = l {
                        parts[a].push(l.to_kind(Kind::Double).softmax(1, Kind::Double));
                    }
                }
            }
            per_split.push(parts.into_iter().map(|p| (!p.is_empty()).then(|| Tensor::cat(&p, 0))).collect());
        }
        let (val, test) = (per_split.remove(0), per_split.remove(0));
        Ok(val
            .into_iter()
            .zip(test)
            .map(|(v, t)| t.map(|t| (v.unwrap_or_else(|| Tensor::zeros([0], (Kind::Double, self.ctx.device))), t)))
            .collect())
    }

    fn eval_loader(&self, split: &Images) -> Result<Loader> {
        Ok(Loader::new(
            split.clone(),
            LoaderConfig {
                batch_size: 500,
                shuffle: false,
                augment: prepare::evaluation(&self.slots[0].run.config.data),
                normalize: self.slots[0].normalize.clone(),
                seed: 0,
                prefetch: 1,
            },
        )?)
    }

    /// Accuracy, calibration and (for distillation members) agreement with the teacher of every member on
    /// `split`; `which` is 0 for validation, 1 for test (the teacher probabilities' index).
    pub(super) fn evaluate(&self, split: &Images, which: usize) -> Result<Vec<Option<Calibration>>> {
        let count = self.members();
        let mut acc: Vec<Accumulator> = self.slots.iter().map(|_| Accumulator::default()).collect();
        let mut offset = 0i64;
        for batch in self.eval_loader(split)?.epoch(0, 0) {
            let batch = batch?;
            let x = batch.images.to_device(self.ctx.device);
            let y = batch.labels.to_device(self.ctx.device);
            let n = y.size()[0];
            let fused = self.step.evaluate(&x);
            for a in self.live().collect::<Vec<_>>() {
                let logits = member::logits(&fused, a as i64, count).to_kind(Kind::Double);
                let log_p = logits.log_softmax(1, Kind::Double);
                let p = log_p.exp();
                let (conf, pred) = p.max_dim(1, false);
                let correct = pred.eq_tensor(&y);
                let nll = log_p.gather(1, &y.unsqueeze(1), false).squeeze_dim(1).neg();
                let entropy = (&p * &log_p).sum_dim_intlist(1, false, Kind::Double).neg();
                let teacher = self.teacher_probs[a].as_ref().map(|(v, t)| {
                    let q = if which == 0 { v } else { t }.narrow(0, offset, n);
                    let agree = q.argmax(1, false).eq_tensor(&pred);
                    let log_q = q.clamp_min(1e-300).log();
                    let kl = (&q * (log_q - &log_p)).sum_dim_intlist(1, false, Kind::Double);
                    (agree, kl)
                });
                let v = |t: &Tensor| Vec::<f64>::try_from(&t.to_kind(Kind::Double).to_device(Device::Cpu));
                let (conf, correct, nll, entropy) = (v(&conf)?, v(&correct)?, v(&nll)?, v(&entropy)?);
                let teacher = match &teacher {
                    Some((agree, kl)) => Some((v(agree)?, v(kl)?)),
                    None => None,
                };
                for i in 0..conf.len() {
                    acc[a].add(Example {
                        confidence: conf[i],
                        correct: correct[i] > 0.5,
                        nll: nll[i],
                        entropy: entropy[i],
                        teacher: teacher.as_ref().map(|(g, k)| (g[i] > 0.5, k[i])),
                    });
                }
            }
            offset += n;
        }
        Ok(acc.iter().map(Accumulator::finish).collect())
    }
}
