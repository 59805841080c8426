//! Training runs as one fused array (HFTA): one model of `m` members, one optimiser step per batch, every
//! member still its own run — seed, data order, augmentation draws, dropout masks, loss and its
//! hyper-parameters, teacher, learning-rate schedule, weight decay, checkpoints, record and run id. A
//! single run is an array of one, so there is one training loop.
//!
//! The loop, per epoch: [`Array::train_epoch`] runs the batches ([`Array::batch`]: each member's batch,
//! the fused forward, each member's loss against its teacher's logits, one backward and one SGD step,
//! running sums read back every batch on the CPU and every [`GPU_READ_EVERY`] on a GPU), then
//! [`Array::end_epoch`] evaluates every member on validation and test, selects its best epoch (the later
//! one on ties), saves weights, snapshots and a checksummed checkpoint. A member whose loss turns NaN
//! fails alone: it leaves the sum, its learning rate drops to 0, and the others finish. SIGINT/SIGTERM
//! (the context's interrupt flag) or a lost lease stop the array at the next batch boundary with a
//! checkpoint there, from which the same command resumes bit-identically on the CPU.

mod checkpoint;
mod evaluate;
mod key;
mod slot;

use std::{sync::atomic::Ordering, time::Instant};

use tch::{Kind, Tensor};
use tfkd_datasets::{rng::Key, DeviceSplit, Images};
use tfkd_io::Lease;
use tfkd_models::member;
use tfkd_spec::{names::Precision, PlannedRun};

use crate::{
    autocast,
    error::{Result, TrainError},
    events::{Event, Observer},
    metrics::Tally,
    prepare::{self, Splits},
    provenance::ArrayInfo,
    run::{Context, RunRecord},
    state::EpochSoFar,
    step::{Hyper, Step},
    teacher::{TeacherChoice, Teachers},
};

pub use key::{ArrayKey, Jobs, Shape};
use slot::{record, Slot};

/// Training batches between reads of the running sums on a GPU (each read waits for the device).
pub const GPU_READ_EVERY: usize = 25;

/// A run to train in an array: its plan, its teacher's weights, and the lease that makes it ours.
#[derive(Debug)]
pub struct Member<'a> {
    /// The planned run.
    pub run: &'a PlannedRun,
    /// Its teacher's weights, for distillation methods.
    pub teacher: Option<TeacherChoice>,
    /// The lease on its folder, held while it trains.
    pub lease: Lease,
    /// Why it trains alone though planned in a fused array (the array failed to build or run), for its
    /// record's provenance.
    pub fallback: Option<String>,
}

/// What makes runs one array: the same model, batch size, epochs, precision, Nesterov, normalisation,
/// An array while it trains.
struct Array<'a> {
    slots: Vec<Slot<'a>>,
    /// The fused model and its optimiser: the one training step.
    step: Step,
    teachers: Teachers,
    /// Each member's teacher probabilities on validation and test (for agreement and KL), if it has one.
    teacher_probs: Vec<Option<(Tensor, Tensor)>>,
    splits: &'a Splits,
    on_device: Option<DeviceSplit>,
    iters: usize,
    ctx: &'a Context,
}

fn label_list(members: &[Member<'_>]) -> String {
    members.iter().map(|m| m.run.config.label()).collect::<Vec<_>>().join(", ")
}

/// Trains `members` as one array (resuming from their checkpoints) and returns each member's result, in order.
pub fn train(
    members: Vec<Member<'_>>,
    splits: &Splits,
    data_hash: &str,
    ctx: &Context,
    obs: &mut dyn Observer,
) -> Vec<Result<RunRecord>> {
    let count = members.len();
    match Array::build(members, splits, ctx, obs) {
        Ok(mut array) => {
            let outcome = array.run(obs);
            array.finish(outcome, data_hash, obs)
        }
        Err(e) => {
            // The first member gets the error itself, the others its text (the error is not Clone).
            let text = tfkd_io::chain(&e);
            std::iter::once(Err(e)).chain((1..count).map(|_| Err(TrainError::Worker(text.clone())))).collect()
        }
    }
}

/// A member's sums so far in an epoch, as a checkpoint keeps them.
fn so_far(t: &Tally, seconds: f64, lr: f64) -> EpochSoFar {
    EpochSoFar { loss_sum: t.loss_sum, ce_sum: t.ce_sum, correct: t.correct, seen: t.seen, seconds, lr }
}

/// Refuses members that cannot share one fused model (or an array the fault hook breaks), and applies the
/// threads and precision they ask for.
fn check_members(members: &[Member<'_>], ctx: &Context) -> Result<()> {
    let first = &members[0].run.config;
    let key = |mb: &Member<'_>| ArrayKey::of(mb.run, (0, 0)).shape;
    if members.iter().any(|mb| key(mb) != key(&members[0])) {
        return Err(TrainError::NotAnArray(
            label_list(members),
            "they differ in model, batch size, epochs or precision".into(),
        ));
    }
    let count = members.len();
    if count > 1 && crate::fault::array_fails() {
        return Err(TrainError::Worker(format!(
            "a fused array of {count} could not be built (simulated by TFKD_FAULT_ARRAY)"
        )));
    }
    if first.train.threads > 0 {
        tch::set_num_threads(first.train.threads as i32);
    }
    if first.train.precision == Precision::Bf16 && !ctx.device.is_cuda() {
        return Err(TrainError::Bf16OnCpu);
    }
    Ok(())
}

impl<'a> Array<'a> {
    fn build(members: Vec<Member<'a>>, splits: &'a Splits, ctx: &'a Context, obs: &mut dyn Observer) -> Result<Self> {
        let first = &members[0].run.config;
        let channels = splits.channels;
        let (arch, single) = prepare::model(first, splits.classes, channels);
        check_members(&members, ctx)?;
        let count = members.len() as i64;
        let bf16 = first.train.precision == Precision::Bf16;
        let nesterov = first.train.nesterov;
        let mut slots = Vec::with_capacity(members.len());
        let mut resumed_momentum = Vec::new();
        let mut initial = Vec::new();
        for mb in members {
            let (slot, weights, momentum) = Slot::open(mb, splits, ctx, (arch, single), obs)?;
            initial.push(weights);
            resumed_momentum.push(momentum);
            slots.push(slot);
        }
        if slots.iter().any(|s| s.progress.position() != slots[0].progress.position()) {
            let labels: Vec<String> = slots.iter().map(|s| s.label.clone()).collect();
            return Err(TrainError::NotAnArray(labels.join(", "), "their checkpoints are at different steps".into()));
        }
        if count > 1 {
            let labels: Vec<String> = slots.iter().map(|s| s.label.clone()).collect();
            for (a, s) in slots.iter_mut().enumerate() {
                s.provenance.array = Some(ArrayInfo { members: count as usize, index: a, labels: labels.clone() });
            }
        }

        let hyper = Hyper {
            momentum: slots.iter().map(|s| s.run.config.train.momentum).collect(),
            weight_decay: slots.iter().map(|s| s.run.config.train.weight_decay).collect(),
            nesterov,
        };
        let mut step = Step::new(ctx.device, arch, single, &hyper, bf16)?;
        if step.memory_format() != tfkd_models::MemoryFormat::Contiguous {
            for s in &mut slots {
                s.provenance.memory_format = Some(step.memory_format().name().to_string());
            }
        }
        for (a, w) in initial.iter().enumerate() {
            member::set_weights(&step.vs, a as i64, count, w).map_err(|e| TrainError::Damaged {
                file: slots[a].dir.path().to_path_buf(),
                detail: format!("checkpoint does not fit the model: {}", tfkd_io::chain(&e)),
            })?;
        }
        step.sgd.set_member_buffers(&resumed_momentum)?;
        let choices: Vec<Option<&TeacherChoice>> = slots.iter().map(|s| s.teacher.as_ref()).collect();
        let teachers = Teachers::load(&choices, splits.classes, channels, ctx.device)?;
        // Decoded splits live on the GPU with their augmentation; encoded ones (ImageNet) are decoded per batch.
        let on_device = match &splits.train {
            Images::Decoded(train) if ctx.device.is_cuda() => Some(DeviceSplit::new(train, ctx.device)?),
            _ => None,
        };
        let iters = slots[0].loader.batches_per_epoch();
        let mut array = Array { slots, step, teachers, teacher_probs: Vec::new(), splits, on_device, iters, ctx };
        array.teacher_probs = array.teacher_eval_probs()?;
        for s in &array.slots {
            obs.event(&Event::RunStart {
                label: s.label.clone(),
                run_id: s.run.run_id.clone(),
                epochs: s.run.config.train.epochs,
                batches: iters,
                resumed_epochs: s.progress.epochs_done,
            });
        }
        Ok(array)
    }

    fn members(&self) -> i64 {
        self.slots.len() as i64
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.failed.is_none()).map(|(a, _)| a)
    }

    /// Trains the remaining epochs; `Err(Interrupted)` when stopped, after checkpointing every live member.
    fn run(&mut self, obs: &mut dyn Observer) -> Result<()> {
        let (start_epoch, start_batch) = self.slots[0].progress.position();
        let epochs = self.slots[0].run.config.train.epochs;
        for epoch in start_epoch..epochs {
            let skip = if epoch == start_epoch { start_batch } else { 0 };
            let sums = self.train_epoch(epoch, skip, obs)?;
            if self.live().next().is_none() {
                return Ok(());
            }
            self.end_epoch(epoch, &sums, obs)?;
        }
        Ok(())
    }

    fn interrupted(&self) -> bool {
        self.ctx.interrupt.load(Ordering::SeqCst)
    }

    /// Ends, without another write, every live member whose lease another process took over.
    fn drop_lost_members(&mut self) {
        for s in self.slots.iter_mut().filter(|s| s.failed.is_none() && s.lease.lost()) {
            s.guard();
        }
    }

    /// The batches of `epoch` from batch `skip` on; returns each member's sums over the whole epoch.
    fn train_epoch(&mut self, epoch: u32, skip: usize, obs: &mut dyn Observer) -> Result<Vec<EpochSoFar>> {
        let every = if self.ctx.device.is_cuda() { GPU_READ_EVERY } else { 1 };
        let mut tallies: Vec<Tally> = self
            .slots
            .iter()
            .map(|s| match (&s.progress.epoch_so_far, skip) {
                (Some(so_far), 1..) => Tally::resumed(every, so_far),
                _ => Tally::new(every),
            })
            .collect();
        let before = if skip > 0 { self.slots[0].progress.epoch_so_far.map_or(0.0, |e| e.seconds) } else { 0.0 };
        let started = Instant::now();
        let mut lr = vec![self.slots[0].progress.epoch_so_far.map_or(0.0, |e| e.lr); self.slots.len()];
        let mut cpu_batches: Vec<tfkd_datasets::loader::Batches> = if self.on_device.is_none() {
            self.slots.iter().map(|s| s.loader.epoch(u64::from(epoch), skip)).collect()
        } else {
            Vec::new()
        };
        let plans: Vec<Vec<Vec<usize>>> = if self.on_device.is_some() {
            self.slots.iter().map(|s| s.loader.plan(u64::from(epoch)).into_iter().skip(skip).collect()).collect()
        } else {
            Vec::new()
        };
        for b in skip..self.iters {
            let mut xs = Vec::with_capacity(self.slots.len());
            let mut ys = Vec::with_capacity(self.slots.len());
            for (a, s) in self.slots.iter().enumerate() {
                let (x, y) = match &self.on_device {
                    Some(ds) => {
                        ds.batch(&plans[a][b - skip], &s.augment, s.run.config.seed, u64::from(epoch), &s.normalize)?
                    }
                    None => {
                        let batch = cpu_batches[a].next().expect("every member has the same number of batches")?;
                        (batch.images, batch.labels)
                    }
                };
                xs.push(x.to_device(self.ctx.device));
                ys.push(y.to_device(self.ctx.device));
            }
            for a in self.live().collect::<Vec<_>>() {
                lr[a] = self.slots[a].run.config.train.lr_at(epoch, b, self.iters);
            }
            let live_lr: Vec<f64> =
                (0..self.slots.len()).map(|a| if self.slots[a].failed.is_none() { lr[a] } else { 0.0 }).collect();
            self.batch(epoch, b, &xs, &ys, &live_lr, &mut tallies, started, obs)?;
            self.drop_lost_members();
            if self.live().next().is_none() {
                return Ok(Vec::new());
            }
            if self.interrupted() {
                let seconds = before + started.elapsed().as_secs_f64();
                return Err(self.checkpoint_and_stop(epoch, b, &mut tallies, &lr, seconds));
            }
        }
        let seconds = before + started.elapsed().as_secs_f64();
        Ok(tallies.iter().zip(lr).map(|(t, lr)| so_far(t, seconds, lr)).collect())
    }

    /// Stopped on request after batch `b`: every live member still holding its lease checkpoints where it
    /// is; the error to end the epoch with (or the first checkpoint error).
    fn checkpoint_and_stop(
        &mut self,
        epoch: u32,
        b: usize,
        tallies: &mut [Tally],
        lr: &[f64],
        seconds: f64,
    ) -> TrainError {
        for a in self.live().collect::<Vec<_>>() {
            if !self.slots[a].guard() {
                continue;
            }
            let t = &mut tallies[a];
            if let Err(e) = t.read() {
                return e.into();
            }
            let s = &mut self.slots[a];
            s.progress.batches_done = b + 1;
            s.progress.epoch_so_far = Some(so_far(t, seconds, lr[a]));
            match self.checkpoint(a) {
                Ok(()) => {}
                Err(TrainError::LeaseLost { .. }) => self.slots[a].lose(),
                Err(e) => return e,
            }
        }
        TrainError::Interrupted { at: format!("at epoch {}, batch {} of {}", epoch + 1, b + 1, self.iters) }
    }

    /// One optimisation step of every live member.
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &mut self,
        epoch: u32,
        b: usize,
        xs: &[Tensor],
        ys: &[Tensor],
        lr: &[f64],
        tallies: &mut [Tally],
        started: Instant,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        let keys: Vec<u64> = self
            .slots
            .iter()
            .map(|s| Key::new(s.run.config.seed).with_str("dropout").with(s.progress.steps).value())
            .collect();
        let fused = self.step.forward(xs, &keys);
        let teacher: Vec<Option<Tensor>> = if self.teachers.is_empty() {
            Vec::new()
        } else {
            autocast::bf16(self.step.bf16(), || self.teachers.logits(xs))
                .into_iter()
                .map(|t| t.map(|t| t.to_kind(Kind::Float)))
                .collect()
        };
        let checks = !self.ctx.device.is_cuda();
        let mut total: Option<Tensor> = None;
        for a in self.live().collect::<Vec<_>>() {
            let s = &mut self.slots[a];
            let t_logits = teacher.get(a).and_then(Option::as_ref);
            let step = s.progress.steps;
            let nonfinite = |total: f64, ce: f64, kl: Option<f64>| TrainError::NonFinite {
                epoch: epoch + 1,
                batch: b,
                step,
                total,
                ce,
                kl,
            };
            let (logits, mut terms) = match self.step.member_loss(&fused, a, (&s.loss, &ys[a], t_logits), checks) {
                Ok(t) => t,
                Err(tfkd_losses::LossError::NonFinite { .. }) => {
                    s.fail(nonfinite(f64::NAN, f64::NAN, None))?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if s.fault == Some(step) {
                terms.total = terms.total.f_mul_scalar(f64::NAN)?;
            }
            if s.abort == Some(step) {
                std::process::abort();
            }
            let last = b + 1 == self.iters;
            if tallies[a].add(&terms.total, &terms.ce, &logits, &ys[a], last)? {
                let before = tallies[a].loss_sum;
                if !tallies[a].read()? {
                    let kl = terms.kl.as_ref().map(|k| k.double_value(&[]));
                    s.fail(nonfinite(terms.total.double_value(&[]), terms.ce.double_value(&[]), kl))?;
                    continue;
                }
                let t = &tallies[a];
                obs.event(&Event::Batch {
                    label: s.label.clone(),
                    epoch: epoch + 1,
                    batch: b,
                    loss: t.loss_sum / t.seen as f64,
                    step_loss: (t.loss_sum - before) / ys[a].size()[0] as f64,
                    step,
                    acc: t.correct as f64 / t.seen as f64,
                    img_per_s: t.seen as f64 / started.elapsed().as_secs_f64(),
                });
            }
            total = Some(match total {
                None => terms.total,
                Some(sum) => sum + terms.total,
            });
        }
        self.step.apply(total, lr)?;
        for a in self.live().collect::<Vec<_>>() {
            self.slots[a].progress.steps += 1;
        }
        Ok(())
    }

    /// Each member's record (written to done.json) or its error, after training ended with `outcome`.
    fn finish(self, outcome: Result<()>, data_hash: &str, obs: &mut dyn Observer) -> Vec<Result<RunRecord>> {
        let interrupted = outcome.as_ref().err().map(|e| tfkd_io::chain(e));
        let mut out = Vec::with_capacity(self.slots.len());
        for mut s in self.slots {
            if let Some(e) = s.failed.take() {
                out.push(Err(e));
                continue;
            }
            if let Some(text) = &interrupted {
                out.push(Err(match &outcome {
                    Err(TrainError::Interrupted { at }) => TrainError::Interrupted { at: at.clone() },
                    _ => TrainError::Worker(text.clone()),
                }));
                continue;
            }
            out.push(record(&mut s, self.splits, data_hash).inspect(|r| {
                obs.event(&Event::RunEnd { label: r.label.clone(), summary: r.summary.clone() });
            }));
        }
        out
    }
}
