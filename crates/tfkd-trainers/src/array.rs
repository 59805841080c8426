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

use std::{collections::BTreeMap, sync::atomic::Ordering, time::Instant};

use tch::{Device, Kind, Tensor};
use tfkd_analysis::calibration::{Accumulator, Calibration, Example};
use tfkd_datasets::{rng::Key, Augment, DeviceSplit, Images, Loader, LoaderConfig, Normalize};
use tfkd_io::Lease;
use tfkd_losses::Loss;
use tfkd_models::{member, member::Weights, Arch, ModelConfig};
use tfkd_spec::{names::Precision, PlannedRun};

use crate::{
    autocast,
    error::{Result, TrainError},
    events::{Event, Observer},
    metrics::{EpochMetrics, Summary, Tally},
    prepare::{self, Splits},
    provenance::{ArrayInfo, Provenance},
    run::{Context, RunRecord},
    state::{EpochSoFar, Progress, RunDir},
    step::{Hyper, Step},
    teacher::{TeacherChoice, Teachers},
};

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
/// threads, whether momentum is used, and the same resume position. Compared by the engine to group runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayKey(String);

impl ArrayKey {
    /// The key of a run resuming at `position` (epoch, batch).
    #[must_use]
    pub fn of(run: &PlannedRun, position: (u32, usize)) -> Self {
        let c = &run.config;
        ArrayKey(format!(
            "{} w{} q{} b{} e{} {} n{} {} t{} m{} @{:?}",
            c.model,
            c.model_options.width,
            c.model_options.googlenet_bn_eps_quirk,
            c.train.batch_size,
            c.train.epochs,
            c.train.precision,
            c.train.nesterov,
            c.data.normalize,
            c.train.threads,
            c.train.momentum != 0.0,
            position
        ))
    }
}

/// Runs grouped into jobs, the one grouping rule of every executor: a run joins the first job with its key
/// that has room for it (at most `limit` runs), else starts a new one; jobs keep the runs' order. The engine
/// keys runs by their [`ArrayKey`]; the Slurm submitter also by what their task waits for.
#[derive(Debug)]
pub struct Jobs<K> {
    jobs: Vec<(K, Vec<usize>)>,
    limit: usize,
}

impl<K: PartialEq> Jobs<K> {
    /// No jobs yet; each will hold at most `limit` runs (at least 1).
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Jobs { jobs: Vec::new(), limit: limit.max(1) }
    }

    /// Places run `run` (an index into the plan) with `key`; returns the index of its job.
    pub fn add(&mut self, run: usize, key: K) -> usize {
        let limit = self.limit;
        match self.jobs.iter().position(|(k, runs)| *k == key && runs.len() < limit) {
            Some(j) => {
                self.jobs[j].1.push(run);
                j
            }
            None => {
                self.jobs.push((key, vec![run]));
                self.jobs.len() - 1
            }
        }
    }

    /// The jobs: each job's key and its runs.
    #[must_use]
    pub fn into_jobs(self) -> Vec<(K, Vec<usize>)> {
        self.jobs
    }
}

/// One member's state while it trains.
struct Slot<'a> {
    run: &'a PlannedRun,
    dir: RunDir,
    label: String,
    loss: Loss,
    augment: Augment,
    normalize: Normalize,
    loader: Loader,
    teacher: Option<TeacherChoice>,
    lease: Lease,
    progress: Progress,
    provenance: Provenance,
    weights: BTreeMap<String, String>,
    fault: Option<u64>,
    failed: Option<TrainError>,
    start: Instant,
}

impl Slot<'_> {
    /// Marks the member failed with `error`, on disk (failed.json) too; the array goes on without it.
    fn fail(&mut self, error: TrainError) -> Result<()> {
        let lease = &self.lease;
        match self.dir.write_failed(&tfkd_io::chain(&error), &|| lease.still_ours()) {
            Ok(()) => self.failed = Some(error),
            Err(TrainError::LeaseLost { .. }) => self.lose(),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Ends the member, after a guarded write was refused: another process holds its lease now.
    fn lose(&mut self) {
        if !self.guard() {
            return;
        }
        // The lock was momentarily unreadable at the write but is ours again: still, write nothing more now.
        self.failed = Some(TrainError::LeaseLost { owner: "another process, for a moment".into() });
    }

    /// Whether this process may still write into the member's folder: `false` once another process has taken
    /// its lease over (this one stalled past the timeout), and the member then ends, having written nothing
    /// more, with [`TrainError::LeaseLost`]. Asked before every write into the folder.
    fn guard(&mut self) -> bool {
        if self.failed.as_ref().is_some_and(|e| matches!(e, TrainError::LeaseLost { .. })) {
            return false;
        }
        if self.lease.still_ours() {
            return true;
        }
        let owner = self.lease.holder().map_or_else(|| "another process".to_string(), |o| o.to_string());
        self.failed = Some(TrainError::LeaseLost { owner });
        false
    }
}

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
    let key = |mb: &Member<'_>| ArrayKey::of(mb.run, (0, 0)).0.rsplit_once(" @").map(|k| k.0.to_string());
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

impl<'a> Slot<'a> {
    /// A member's slot: its folder (resumed from its last good checkpoint, each damaged file said), its loader
    /// and loss; with the weights and momentum it starts from.
    fn open(
        mb: Member<'a>,
        splits: &Splits,
        ctx: &Context,
        (arch, single): (Arch, ModelConfig),
        obs: &mut dyn Observer,
    ) -> Result<(Self, Weights, BTreeMap<String, Tensor>)> {
        let cfg = &mb.run.config;
        let channels = splits.channels;
        let dir = RunDir::new(&ctx.cache_dir, &mb.run.run_id);
        dir.create()?;
        let (checkpoint, damaged) = dir.resume(&mb.run.run_id)?;
        for d in damaged {
            obs.event(&Event::RunRepaired {
                label: cfg.label(),
                run_id: mb.run.run_id.clone(),
                damaged: d.to_string(),
                action: "resuming from the checkpoint before it".into(),
            });
        }
        let augment = prepare::augment(&cfg.data);
        let normalize = prepare::normalize(&cfg.data, channels)?;
        let loader = Loader::new(
            splits.train.clone(),
            LoaderConfig {
                batch_size: cfg.train.batch_size,
                shuffle: true,
                augment: augment.clone(),
                normalize: normalize.clone(),
                seed: cfg.seed,
                prefetch: cfg.data.prefetch,
            },
        )?;
        let (progress, weights, momentum) = match checkpoint {
            Some(ck) => (ck.progress, ck.model, ck.momentum),
            None => (
                Progress::fresh(&mb.run.run_id),
                tfkd_models::member::init(arch, single, cfg.seed as i64)?,
                BTreeMap::new(),
            ),
        };
        let slot = Slot {
            run: mb.run,
            dir,
            label: cfg.label(),
            loss: prepare::loss(cfg),
            augment,
            normalize,
            loader,
            teacher: mb.teacher,
            lease: mb.lease,
            progress,
            provenance: Provenance {
                array_fallback: mb.fallback,
                ..crate::provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics)
            },
            weights: BTreeMap::new(),
            fault: crate::fault::nan_step(&cfg.label()),
            failed: None,
            start: Instant::now(),
        };
        Ok((slot, weights, momentum))
    }
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
        for (a, w) in initial.iter().enumerate() {
            member::set_weights(&step.vs, a as i64, count, w).map_err(|detail| TrainError::Damaged {
                file: slots[a].dir.path().to_path_buf(),
                detail: format!("checkpoint does not fit the model: {detail}"),
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

    /// Each member's teacher softmax on validation and test, computed once (the teachers are frozen).
    fn teacher_eval_probs(&self) -> Result<Vec<Option<(Tensor, Tensor)>>> {
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
        let count = self.members();
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
            let logits = member::logits(&fused, a as i64, count);
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
            let mut terms = match tfkd_losses::with_value_checks(checks, || s.loss.compute(&logits, &ys[a], t_logits)) {
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

    /// Evaluation, selection, weights and checkpoint of every live member after `epoch`.
    fn end_epoch(&mut self, epoch: u32, sums: &[EpochSoFar], obs: &mut dyn Observer) -> Result<()> {
        let eval_start = Instant::now();
        let val = if self.splits.val.is_empty() { None } else { Some(self.evaluate(&self.splits.val.clone(), 0)?) };
        let test = self.evaluate(&self.splits.test.clone(), 1)?;
        let count = self.members();
        for a in self.live().collect::<Vec<_>>() {
            let s = &mut self.slots[a];
            if !s.guard() {
                continue;
            }
            s.progress.epoch_so_far = None;
            let sum = sums[a];
            let seen = sum.seen.max(1) as f64;
            let t = test[a].clone().expect("every live member is evaluated");
            let v = val.as_ref().and_then(|v| v[a].clone());
            let seconds = sum.seconds + eval_start.elapsed().as_secs_f64();
            s.progress.metrics.push(EpochMetrics {
                epoch: epoch + 1,
                lr: sum.lr,
                train_loss: sum.loss_sum / seen,
                train_ce: sum.ce_sum / seen,
                train_acc: sum.correct as f64 / seen,
                val_acc: v.as_ref().map(|v| v.accuracy),
                test_acc: t.accuracy,
                test_loss: t.nll,
                test: Some(t),
                val: v,
                seconds,
                train_img_per_s: sum.seen as f64 / sum.seconds.max(1e-9),
            });
            s.progress.epochs_done = epoch + 1;
            s.progress.batches_done = 0;
            match self.save_epoch(a, epoch, count) {
                Ok(()) => {}
                Err(TrainError::LeaseLost { .. }) => {
                    self.slots[a].lose();
                    continue;
                }
                Err(e) => return Err(e),
            }
            let s = &self.slots[a];
            obs.event(&Event::Epoch {
                label: s.label.clone(),
                metrics: s.progress.metrics.last().expect("pushed").clone(),
            });
        }
        Ok(())
    }

    /// The end-of-epoch files of member `a`: its best weights when a new epoch is selected, a snapshot its
    /// students asked for, and its checkpoint; each only while its lease is its own.
    fn save_epoch(&mut self, a: usize, epoch: u32, count: i64) -> Result<()> {
        let s = &mut self.slots[a];
        let summary = Summary::of(&s.progress.metrics).expect("one epoch done");
        let lease = &s.lease;
        let may = || lease.still_ours();
        if s.progress.selected_epoch != Some(summary.selected_epoch()) {
            let sha = s.dir.save_weights(&self.step.vs, a as i64, count, &s.dir.best(), &may)?;
            s.weights.insert("best.safetensors".into(), sha.clone());
            s.progress.best_sha256 = Some(sha);
            s.progress.selected_epoch = Some(summary.selected_epoch());
        }
        if s.run.keep_all_epochs || s.run.keep_epochs.contains(&(epoch + 1)) {
            let path = s.dir.snapshot(epoch + 1);
            let sha = s.dir.save_weights(&self.step.vs, a as i64, count, &path, &may)?;
            s.weights.insert(format!("epoch-{}.safetensors", epoch + 1), sha);
        }
        self.checkpoint(a)
    }

    fn checkpoint(&mut self, a: usize) -> Result<()> {
        let count = self.members();
        let model = member::weights(&self.step.vs, a as i64, count);
        let momentum = self.step.sgd.member_buffers(a as i64);
        let Slot { dir, lease, progress, .. } = &mut self.slots[a];
        progress.tensors_sha256.clear();
        dir.save_checkpoint(&model, &momentum, progress, &|| lease.still_ours())
    }

    /// Accuracy, calibration and (for distillation members) agreement with the teacher of every member on
    /// `split`; `which` is 0 for validation, 1 for test (the teacher probabilities' index).
    fn evaluate(&self, split: &Images, which: usize) -> Result<Vec<Option<Calibration>>> {
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

/// The finished record of a member, written to its done.json.
fn record(s: &mut Slot<'_>, splits: &Splits, data_hash: &str) -> Result<RunRecord> {
    let summary = Summary::of(&s.progress.metrics).expect("a finished run has epochs");
    s.provenance.finish(s.start.elapsed().as_secs_f64());
    let mut weights = s.weights.clone();
    if !weights.contains_key("best.safetensors") {
        if let Some(sha) = &s.progress.best_sha256 {
            weights.insert("best.safetensors".into(), sha.clone());
        }
    }
    for e in &s.run.keep_epochs {
        if let std::collections::btree_map::Entry::Vacant(slot) = weights.entry(format!("epoch-{e}.safetensors")) {
            if let Ok(sha) = crate::state::sha256_file(&s.dir.snapshot(*e)) {
                slot.insert(sha);
            }
        }
    }
    let record = RunRecord {
        run_id: s.run.run_id.clone(),
        label: s.label.clone(),
        config: s.run.config.clone(),
        teacher_id: s.run.teacher_id.clone(),
        teacher_epoch: s.teacher.as_ref().and_then(TeacherChoice::epoch),
        teacher_test_acc: s.teacher.as_ref().and_then(TeacherChoice::test_acc),
        teacher_weights_sha256: s.teacher.as_ref().and_then(|t| t.external_sha256().map(str::to_string)),
        data_hash: data_hash.to_string(),
        split_sizes: [splits.train.len(), splits.val.len(), splits.test.len()],
        normalize: s.normalize.clone(),
        augment: s.augment.clone(),
        summary,
        metrics: s.progress.metrics.clone(),
        provenance: s.provenance.clone(),
        weights,
    };
    let lease = &s.lease;
    match s.dir.write_json_if(&s.dir.done(), &record, &|| lease.still_ours()) {
        Ok(()) => Ok(record),
        Err(TrainError::LeaseLost { .. }) => {
            s.lose();
            Err(s.failed.take().expect("lose sets why"))
        }
        Err(e) => Err(e),
    }
}
