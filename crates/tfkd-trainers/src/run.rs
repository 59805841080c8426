//! Training one run: the official SGD recipe, teacher logits per augmented batch, evaluation every
//! epoch, atomic checkpoints, bit-exact resume, NaN detection.

use std::{path::Path, sync::Arc, time::Instant};

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};
use tfkd_datasets::{rng::Key, Augment, DeviceSplit, Loader, LoaderConfig, Normalize, Split};
use tfkd_models::{Network, Teacher};
use tfkd_spec::{PlannedRun, RunConfig, Snapshot};

use crate::{
    autocast,
    error::{Result, TrainError},
    events::{Event, Observer},
    metrics::{EpochMetrics, Summary, Tally},
    prepare::{self, Splits},
    provenance::Provenance,
    state::{Progress, RunDir},
};

/// Everything recorded about a finished run (`done.json`, and `run.json` under `results/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Content-addressed id.
    pub run_id: String,
    /// `id@seed`.
    pub label: String,
    /// Resolved settings.
    pub config: RunConfig,
    /// The teacher run's id.
    pub teacher_id: Option<String>,
    /// The teacher epoch whose weights were used.
    pub teacher_epoch: Option<u32>,
    /// Test accuracy of those teacher weights.
    pub teacher_test_acc: Option<f64>,
    /// Content hash of the data source.
    pub data_hash: String,
    /// Images in train / val / test.
    pub split_sizes: [usize; 3],
    /// Normalisation constants used.
    pub normalize: Normalize,
    /// Augmentation used.
    pub augment: Augment,
    /// Accuracies.
    pub summary: Summary,
    /// Per-epoch metrics.
    pub metrics: Vec<EpochMetrics>,
    /// Where and how it ran.
    pub provenance: Provenance,
}

/// Where runs execute and what to record about it.
#[derive(Debug, Clone)]
pub struct Context {
    /// Device for models and data.
    pub device: Device,
    /// Human-readable device name for provenance.
    pub device_name: String,
    /// libtorch version for provenance.
    pub libtorch: String,
    /// Cache folder (run folders, decoded data).
    pub cache_dir: std::path::PathBuf,
}

/// The teacher weights a student trains against.
#[derive(Debug, Clone)]
pub struct TeacherChoice<'a> {
    /// The teacher run.
    pub record: &'a RunRecord,
    /// Its weights file.
    pub path: std::path::PathBuf,
    /// The (1-based) epoch those weights are from.
    pub epoch: u32,
    /// Their test accuracy.
    pub test_acc: f64,
}

/// Teacher weights of `run`'s teacher: the requested snapshot, or the teacher run's selected epoch.
pub fn teacher_weights<'a>(run: &PlannedRun, teacher: &'a RunRecord, cache_dir: &Path) -> Result<TeacherChoice<'a>> {
    let dir = RunDir::new(cache_dir, &teacher.run_id);
    let acc_at = |epoch: u32| teacher.metrics.iter().find(|m| m.epoch == epoch).map_or(f64::NAN, |m| m.test_acc);
    let epoch = match run.config.teacher_snapshot {
        None => {
            let epoch = teacher.summary.selected_epoch();
            return Ok(TeacherChoice { record: teacher, path: dir.best(), epoch, test_acc: acc_at(epoch) });
        }
        Some(Snapshot::Epoch(e)) => e,
        Some(Snapshot::Accuracy(a)) => {
            teacher.metrics.iter().find(|m| m.test_acc >= a).map(|m| m.epoch).ok_or_else(|| {
                TrainError::Config(format!(
                    "teacher {} never reached test accuracy {a}; its best was {}",
                    teacher.label, teacher.summary.best_test_acc
                ))
            })?
        }
    };
    let path = dir.snapshot(epoch);
    if !path.is_file() {
        return Err(TrainError::Checkpoint {
            path,
            detail: format!("teacher {} kept no snapshot of epoch {epoch}", teacher.label),
        });
    }
    Ok(TeacherChoice { record: teacher, path, epoch, test_acc: acc_at(epoch) })
}

/// Training batches between reads of the running sums on a GPU (each read waits for the device).
const GPU_READ_EVERY: usize = 25;

/// Trains `run` (resuming from its last checkpoint) and returns its record.
pub fn train(
    run: &PlannedRun,
    splits: &Splits,
    data_hash: &str,
    teacher: Option<&TeacherChoice<'_>>,
    ctx: &Context,
    obs: &mut dyn Observer,
) -> Result<RunRecord> {
    let cfg = &run.config;
    let label = cfg.label();
    let dir = RunDir::new(&ctx.cache_dir, &run.run_id);
    dir.create()?;
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads as i32);
    }
    let start = Instant::now();
    let mut provenance = Provenance::capture(&ctx.libtorch, &ctx.device_name);
    let channels = splits.train.chw[0];
    let (arch, model_cfg) = prepare::model(cfg, splits.classes, channels)?;
    let augment = prepare::augment(&cfg.data);
    let normalize = prepare::normalize(&cfg.data, channels)?;
    let loss = prepare::loss(cfg);

    let bf16 = cfg.train.precision == tfkd_spec::names::Precision::Bf16;
    if bf16 && !ctx.device.is_cuda() {
        return Err(TrainError::Config("train.precision bf16 is for CUDA devices only; use fp32 on the CPU".into()));
    }
    tch::manual_seed(cfg.seed as i64);
    let mut vs = VarStore::new(ctx.device);
    let net = Network::build(&vs, arch, model_cfg).map_err(|e| TrainError::Config(e.to_string()))?;
    let mut sgd = crate::sgd::Sgd::new(&vs, cfg.train.momentum, cfg.train.weight_decay, cfg.train.nesterov);
    let teacher_net = match teacher {
        Some(t) => {
            let (t_arch, t_cfg) = prepare::model(&t.record.config, splits.classes, channels)?;
            Some(Teacher::load(&t.path, t_arch, t_cfg, ctx.device)?)
        }
        None => None,
    };

    let mut progress =
        Progress { run_id: run.run_id.clone(), epochs_done: 0, steps: 0, metrics: Vec::new(), selected_epoch: None };
    if let Some((saved, momentum)) = dir.load_state(&mut vs, &run.run_id)? {
        progress = saved;
        sgd.set_buffers(momentum);
    }

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
    let on_device = if ctx.device.is_cuda() { Some(DeviceSplit::new(&splits.train, ctx.device)?) } else { None };
    let iters = loader.batches_per_epoch();
    let fault = crate::fault::nan_step(&label);
    obs.event(&Event::RunStart {
        label: label.clone(),
        run_id: run.run_id.clone(),
        epochs: cfg.train.epochs,
        batches: iters,
        resumed_epochs: progress.epochs_done,
    });

    for epoch in progress.epochs_done..cfg.train.epochs {
        let epoch_start = Instant::now();
        // Dropout draws come from libtorch's generator: reseed per epoch so a resume replays them exactly.
        tch::manual_seed((Key::new(cfg.seed).with_str("dropout").with(u64::from(epoch)).value() >> 1) as i64);
        let mut tally = Tally::new(if ctx.device.is_cuda() { GPU_READ_EVERY } else { 1 });
        let mut lr = 0.0;
        let batches: Box<dyn Iterator<Item = Result<(Tensor, Tensor)>>> = match &on_device {
            Some(ds) => {
                let plan = loader.plan(u64::from(epoch));
                let (aug, norm) = (augment.clone(), normalize.clone());
                Box::new(plan.into_iter().map(move |idx| Ok(ds.batch(&idx, &aug, cfg.seed, u64::from(epoch), &norm)?)))
            }
            None => Box::new(
                loader.epoch(u64::from(epoch), 0).map(|b| b.map(|b| (b.images, b.labels)).map_err(TrainError::from)),
            ),
        };
        for (b, batch) in batches.enumerate() {
            let (x, y) = batch?;
            let (x, y) = (x.to_device(ctx.device), y.to_device(ctx.device));
            lr = cfg.train.lr_at(epoch, b, iters);
            sgd.set_lr(lr);
            let logits = autocast::bf16(bf16, || net.forward(&x, true)).to_kind(Kind::Float);
            let t_logits = teacher_net.as_ref().map(|t| autocast::bf16(bf16, || t.logits(&x)).to_kind(Kind::Float));
            let nonfinite = |total: f64, ce: f64, kl: Option<f64>| TrainError::NonFinite {
                epoch: epoch + 1,
                batch: b,
                step: progress.steps,
                total,
                ce,
                kl,
            };
            // On a GPU the loss is checked through the tally, not by per-batch reads inside the loss.
            let terms = match tfkd_losses::with_value_checks(!ctx.device.is_cuda(), || {
                loss.compute(&logits, &y, t_logits.as_ref())
            }) {
                Ok(mut t) => {
                    if fault.is_some_and(|s| s == progress.steps) {
                        t.total = t.total.f_mul_scalar(f64::NAN)?;
                    }
                    t
                }
                Err(tfkd_losses::LossError::NonFinite { .. }) => {
                    return fail(&dir, nonfinite(f64::NAN, f64::NAN, None))
                }
                Err(e) => return Err(e.into()),
            };
            if tally.add(&terms.total, &terms.ce, &logits, &y, b + 1 == iters)? {
                if !tally.read()? {
                    let kl = terms.kl.as_ref().map(|k| k.double_value(&[]));
                    return fail(&dir, nonfinite(terms.total.double_value(&[]), terms.ce.double_value(&[]), kl));
                }
                obs.event(&Event::Batch {
                    label: label.clone(),
                    epoch: epoch + 1,
                    batch: b,
                    loss: tally.loss_sum / tally.seen as f64,
                    acc: tally.correct as f64 / tally.seen as f64,
                    img_per_s: tally.seen as f64 / epoch_start.elapsed().as_secs_f64(),
                });
            }
            sgd.zero_grad();
            terms.total.backward();
            sgd.step()?;
            progress.steps += 1;
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let val_acc = if splits.val.is_empty() {
            None
        } else {
            Some(evaluate(&net, &splits.val, &normalize, ctx.device, bf16)?.0)
        };
        let (test_acc, test_loss) = evaluate(&net, &splits.test, &normalize, ctx.device, bf16)?;
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: tally.loss_sum / tally.seen.max(1) as f64,
            train_ce: tally.ce_sum / tally.seen.max(1) as f64,
            train_acc: tally.correct as f64 / tally.seen.max(1) as f64,
            val_acc,
            test_acc,
            test_loss,
            seconds: epoch_start.elapsed().as_secs_f64(),
            train_img_per_s: tally.seen as f64 / train_seconds,
        };
        progress.metrics.push(metrics);
        progress.epochs_done = epoch + 1;
        let summary = Summary::of(&progress.metrics).expect("one epoch done");
        if progress.selected_epoch != Some(summary.selected_epoch()) {
            dir.save_weights(&vs, &dir.best())?;
            progress.selected_epoch = Some(summary.selected_epoch());
        }
        if run.keep_all_epochs || run.keep_epochs.contains(&(epoch + 1)) {
            dir.save_weights(&vs, &dir.snapshot(epoch + 1))?;
        }
        dir.save_state(&vs, sgd.buffers(), &progress)?;
        obs.event(&Event::Epoch { label: label.clone(), metrics: progress.metrics.last().expect("pushed").clone() });
    }

    let summary =
        Summary::of(&progress.metrics).ok_or_else(|| TrainError::Config("a run needs at least one epoch".into()))?;
    provenance.finish(start.elapsed().as_secs_f64());
    let record = RunRecord {
        run_id: run.run_id.clone(),
        label: label.clone(),
        config: cfg.clone(),
        teacher_id: run.teacher_id.clone(),
        teacher_epoch: teacher.map(|t| t.epoch),
        teacher_test_acc: teacher.map(|t| t.test_acc),
        data_hash: data_hash.to_string(),
        split_sizes: [splits.train.len(), splits.val.len(), splits.test.len()],
        normalize,
        augment,
        summary,
        metrics: progress.metrics,
        provenance,
    };
    dir.write_json(&dir.done(), &record)?;
    obs.event(&Event::RunEnd { label, summary: record.summary.clone() });
    Ok(record)
}

fn fail(dir: &RunDir, err: TrainError) -> Result<RunRecord> {
    dir.write_json(&dir.failed(), &serde_json::json!({ "error": err.to_string() }))?;
    Err(err)
}

/// Accuracy and mean cross-entropy of `net` (eval mode) on `split`; `bf16` evaluates under bf16 autocast.
pub fn evaluate(
    net: &Network,
    split: &Arc<Split>,
    normalize: &Normalize,
    device: Device,
    bf16: bool,
) -> Result<(f64, f64)> {
    let loader = Loader::new(
        split.clone(),
        LoaderConfig {
            batch_size: 500,
            shuffle: false,
            augment: Augment::none(),
            normalize: normalize.clone(),
            seed: 0,
            prefetch: 1,
        },
    )?;
    let (mut correct, mut loss, mut n) = (0i64, 0.0, 0i64);
    for batch in loader.epoch(0, 0) {
        let batch = batch?;
        let (x, y) = (batch.images.to_device(device), batch.labels.to_device(device));
        let logits = autocast::bf16(bf16, || tch::no_grad(|| net.forward(&x, false))).to_kind(Kind::Float);
        let k = y.size()[0];
        correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
        loss += logits.cross_entropy_for_logits(&y).double_value(&[]) * k as f64;
        n += k;
    }
    Ok((correct as f64 / n.max(1) as f64, loss / n.max(1) as f64))
}
