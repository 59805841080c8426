//! Teachers: which weights of a teacher run a student learns from, teachers of one architecture evaluated
//! as one fused array, and a trained teacher's soft targets as the temperature grows (the KD ≈ LSR figure).

use std::{path::PathBuf, sync::Arc};

use tch::{Device, Kind, Tensor};
use tfkd_analysis::soft::{self, TeacherCurve};
use tfkd_datasets::{Augment, Loader, LoaderConfig, Split};
use tfkd_models::{member, Arch, ModelConfig, Teacher};
use tfkd_spec::{Experiment, Layout, PlannedRun, Snapshot};

use crate::{
    error::{Result, TrainError},
    prepare::{self, Plan},
    run::RunRecord,
    state::RunDir,
};

/// The teacher weights a student trains against.
#[derive(Debug, Clone)]
pub struct TeacherChoice {
    /// The teacher run's record.
    pub record: RunRecord,
    /// Its weights file.
    pub path: PathBuf,
    /// The (1-based) epoch those weights are from.
    pub epoch: u32,
    /// Their test accuracy.
    pub test_acc: f64,
}

/// Teacher weights of `run`'s teacher: the requested snapshot, or the teacher run's selected epoch.
pub fn choose(run: &PlannedRun, teacher: &RunRecord, cache_dir: &std::path::Path) -> Result<TeacherChoice> {
    let dir = RunDir::new(cache_dir, &teacher.run_id);
    let acc_at = |epoch: u32| teacher.metrics.iter().find(|m| m.epoch == epoch).map_or(f64::NAN, |m| m.test_acc);
    let epoch = match run.config.teacher_snapshot {
        None => {
            let epoch = teacher.summary.selected_epoch();
            return Ok(TeacherChoice { record: teacher.clone(), path: dir.best(), epoch, test_acc: acc_at(epoch) });
        }
        Some(Snapshot::Epoch(e)) => e,
        Some(Snapshot::Accuracy(a)) => {
            teacher.metrics.iter().find(|m| m.test_acc >= a).map(|m| m.epoch).ok_or_else(|| {
                TrainError::SnapshotAccuracy {
                    teacher: teacher.label.clone(),
                    wanted: a,
                    best: teacher.summary.best_test_acc,
                }
            })?
        }
    };
    let path = dir.snapshot(epoch);
    if !path.is_file() {
        return Err(TrainError::MissingSnapshot { teacher: teacher.label.clone(), epoch });
    }
    Ok(TeacherChoice { record: teacher.clone(), path, epoch, test_acc: acc_at(epoch) })
}

/// The teachers of an array's members, grouped by architecture so each group runs as one fused model.
#[derive(Debug)]
pub struct Teachers {
    groups: Vec<(Teacher, Vec<usize>)>,
}

impl Teachers {
    /// Loads the teachers of the members that have one (`choices[a]` for member a) onto `device`.
    pub fn load(choices: &[Option<&TeacherChoice>], classes: usize, channels: usize, device: Device) -> Result<Self> {
        let mut keys: Vec<(Arch, ModelConfig)> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (a, choice) in choices.iter().enumerate() {
            let Some(c) = choice else { continue };
            let key = prepare::model(&c.record.config, classes, channels);
            match keys.iter().position(|k| *k == key) {
                Some(i) => members[i].push(a),
                None => {
                    keys.push(key);
                    members.push(vec![a]);
                }
            }
        }
        let mut groups = Vec::new();
        for ((arch, cfg), idx) in keys.into_iter().zip(members) {
            let paths: Vec<&std::path::Path> =
                idx.iter().map(|&a| choices[a].expect("grouped").path.as_path()).collect();
            groups.push((Teacher::load_members(&paths, arch, cfg, device)?, idx));
        }
        Ok(Teachers { groups })
    }

    /// Each member's teacher logits (eval mode, no gradients) on its own batch `xs[a]`; `None` for members
    /// without a teacher.
    #[must_use]
    pub fn logits(&self, xs: &[Tensor]) -> Vec<Option<Tensor>> {
        let mut out: Vec<Option<Tensor>> = (0..xs.len()).map(|_| None).collect();
        for (teacher, idx) in &self.groups {
            let batch: Vec<Tensor> = idx.iter().map(|&a| xs[a].shallow_clone()).collect();
            let fused = teacher.logits(&member::stack_inputs(&batch));
            for (i, &a) in idx.iter().enumerate() {
                out[a] = Some(member::logits(&fused, i as i64, idx.len() as i64));
            }
        }
        out
    }

    /// Whether no member has a teacher.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// The teacher whose soft targets a Tf-KD_reg table shows (docs/paper.md, the KD ≈ LSR argument): the teacher of
/// the first row's normal-KD cell. `None` when `exp` has no Tf-KD_reg table, no such cell, or the cell's run has
/// no teacher in `plan`.
#[must_use]
pub fn soft_target_teacher<'a>(exp: &Experiment, plan: &'a Plan) -> Option<&'a PlannedRun> {
    let paper = exp.paper.as_ref()?;
    if paper.layout != Some(Layout::TfReg) {
        return None;
    }
    let kd_id = paper.rows.iter().find_map(|r| r.cells.get("normal_kd")?.run.clone())?;
    let teacher_id = exp.runs.iter().find(|r| r.id == kd_id)?.teacher.clone()?;
    plan.runs.iter().find(|p| p.config.id == teacher_id)
}

/// Soft-target statistics, on the test split, of the teacher [`soft_target_teacher`] picks, from its best
/// weights in `cache_dir`; `None` when there is no such teacher or it has not finished.
pub fn soft_target_curve(exp: &Experiment, plan: &Plan, cache_dir: &std::path::Path) -> Result<Option<TeacherCurve>> {
    let Some(teacher) = soft_target_teacher(exp, plan) else { return Ok(None) };
    let dir = RunDir::new(cache_dir, &teacher.run_id);
    let Some(record) = dir.read_json::<RunRecord>(&dir.done())? else { return Ok(None) };
    Ok(Some(curve(&record, &dir.best(), &plan.splits.test, plan.splits.classes)?))
}

/// Soft-target statistics of a trained teacher on a split as the temperature grows (inference only, on the CPU).
pub fn curve(
    teacher: &RunRecord,
    weights: &std::path::Path,
    split: &Arc<Split>,
    classes: usize,
) -> Result<TeacherCurve> {
    let (arch, cfg) = prepare::model(&teacher.config, classes, split.chw[0]);
    let net = Teacher::load(weights, arch, cfg, Device::Cpu)?;
    let loader = Loader::new(
        split.clone(),
        LoaderConfig {
            batch_size: 500,
            shuffle: false,
            augment: Augment::none(),
            normalize: teacher.normalize.clone(),
            seed: 0,
            prefetch: 1,
        },
    )?;
    let (mut logits, mut labels) = (Vec::new(), Vec::new());
    for batch in loader.epoch(0, 0) {
        let batch = batch?;
        let z = net.logits(&batch.images).to_kind(Kind::Double);
        logits.extend(Vec::<Vec<f64>>::try_from(&z)?);
        labels.extend(Vec::<i64>::try_from(&batch.labels)?.into_iter().map(|l| l as usize));
    }
    Ok(TeacherCurve {
        teacher: teacher.label.clone(),
        classes,
        images: labels.len(),
        curve: soft::soften(&logits, &labels, &soft::TEMPERATURES),
    })
}
