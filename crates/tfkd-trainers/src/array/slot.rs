//! One member of an array: its folder and lease (every write guarded by it), loader, loss, progress and
//! provenance — opened from its last good checkpoint, and its record written when it finishes.

use std::{collections::BTreeMap, time::Instant};

use tch::Tensor;
use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize};
use tfkd_io::Lease;
use tfkd_losses::Loss;
use tfkd_models::{member::Weights, Arch, ModelConfig};
use tfkd_spec::PlannedRun;

use super::Member;
use crate::{
    error::{Result, TrainError},
    events::{Event, Observer},
    metrics::Summary,
    prepare::{self, Splits},
    provenance::Provenance,
    run::{Context, RunRecord},
    state::{Progress, RunDir},
    teacher::TeacherChoice,
};

/// One member's state while it trains.
pub(super) struct Slot<'a> {
    pub(super) run: &'a PlannedRun,
    pub(super) dir: RunDir,
    pub(super) label: String,
    pub(super) loss: Loss,
    pub(super) augment: Augment,
    pub(super) normalize: Normalize,
    pub(super) loader: Loader,
    pub(super) teacher: Option<TeacherChoice>,
    pub(super) lease: Lease,
    pub(super) progress: Progress,
    pub(super) provenance: Provenance,
    pub(super) weights: BTreeMap<String, String>,
    pub(super) fault: Option<u64>,
    /// The step at which the fault hook aborts the process (`TFKD_FAULT_ABORT`).
    pub(super) abort: Option<u64>,
    pub(super) failed: Option<TrainError>,
    pub(super) start: Instant,
}

impl Slot<'_> {
    /// Marks the member failed with `error`, on disk (failed.json) too; the array goes on without it.
    pub(super) fn fail(&mut self, error: TrainError) -> Result<()> {
        let lease = &self.lease;
        match self.dir.write_failed(&tfkd_io::chain(&error), &|| lease.still_ours()) {
            Ok(()) => self.failed = Some(error),
            Err(TrainError::LeaseLost { .. }) => self.lose(),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Ends the member, after a guarded write was refused: another process holds its lease now.
    pub(super) fn lose(&mut self) {
        if !self.guard() {
            return;
        }
        // The lock was momentarily unreadable at the write but is ours again: still, write nothing more now.
        self.failed = Some(TrainError::LeaseLost { owner: "another process, for a moment".into() });
    }

    /// Whether this process may still write into the member's folder: `false` once another process has taken
    /// its lease over (this one stalled past the timeout), and the member then ends, having written nothing
    /// more, with [`TrainError::LeaseLost`]. Asked before every write into the folder.
    pub(super) fn guard(&mut self) -> bool {
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

impl<'a> Slot<'a> {
    /// A member's slot: its folder (resumed from its last good checkpoint, each damaged file said), its loader
    /// and loss; with the weights and momentum it starts from.
    pub(super) fn open(
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
            abort: crate::fault::abort_step(&cfg.label()),
            failed: None,
            start: Instant::now(),
        };
        Ok((slot, weights, momentum))
    }
}

/// The finished record of a member, written to its done.json.
pub(super) fn record(s: &mut Slot<'_>, splits: &Splits, data_hash: &str) -> Result<RunRecord> {
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
