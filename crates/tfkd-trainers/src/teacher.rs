//! Teachers: which weights of a teacher run a student learns from, teachers of one architecture evaluated
//! as one fused array, and a trained teacher's soft targets as the temperature grows (the KD ≈ LSR figure).

use std::path::PathBuf;

use tch::{Device, Kind, Tensor};
use tfkd_analysis::soft::{self, TeacherCurve};
use tfkd_datasets::{Images, Loader, LoaderConfig};
use tfkd_models::{member, Arch, ModelConfig, Teacher};
use tfkd_spec::{Experiment, ExternalTeacher, Layout, PlannedRun, Snapshot};

use crate::{
    error::{Result, TrainError},
    prepare::{self, Plan},
    run::RunRecord,
    state::RunDir,
};

/// The teacher weights a student trains against.
#[derive(Debug, Clone)]
pub struct TeacherChoice {
    /// Its weights file: a tfkd run's safetensors, or a PyTorch `state_dict` for a teacher trained elsewhere.
    pub path: PathBuf,
    /// Where the weights come from.
    pub from: TeacherFrom,
}

/// Where a student's teacher weights come from.
#[derive(Debug, Clone)]
pub enum TeacherFrom {
    /// A teacher run of tfkd.
    Run {
        /// The teacher run's record.
        record: Box<RunRecord>,
        /// The (1-based) epoch the weights are from.
        epoch: u32,
        /// Their test accuracy.
        test_acc: f64,
    },
    /// A `state_dict` file trained elsewhere (torchvision's pretrained ImageNet models).
    External {
        /// The teacher's architecture.
        model: Arch,
        /// The file's sha256.
        sha256: String,
    },
}

impl TeacherChoice {
    /// The teacher run's epoch, for a tfkd teacher.
    #[must_use]
    pub fn epoch(&self) -> Option<u32> {
        match &self.from {
            TeacherFrom::Run { epoch, .. } => Some(*epoch),
            TeacherFrom::External { .. } => None,
        }
    }

    /// The teacher weights' test accuracy, for a tfkd teacher.
    #[must_use]
    pub fn test_acc(&self) -> Option<f64> {
        match &self.from {
            TeacherFrom::Run { test_acc, .. } => Some(*test_acc),
            TeacherFrom::External { .. } => None,
        }
    }

    /// The weights file's sha256, for a teacher trained elsewhere.
    #[must_use]
    pub fn external_sha256(&self) -> Option<&str> {
        match &self.from {
            TeacherFrom::Run { .. } => None,
            TeacherFrom::External { sha256, .. } => Some(sha256),
        }
    }

    /// The teacher model for `classes` classes of `channels`-channel images.
    #[must_use]
    pub fn model(&self, classes: usize, channels: usize) -> (Arch, ModelConfig) {
        match &self.from {
            TeacherFrom::Run { record, .. } => prepare::model(&record.config, classes, channels),
            TeacherFrom::External { model, .. } => {
                (*model, ModelConfig { in_channels: channels as i64, ..ModelConfig::new(classes as i64) })
            }
        }
    }
}

/// Teacher weights of `run`'s teacher: the requested snapshot, or the teacher run's selected epoch.
pub fn choose(run: &PlannedRun, teacher: &RunRecord, cache_dir: &std::path::Path) -> Result<TeacherChoice> {
    let dir = RunDir::new(cache_dir, &teacher.run_id);
    let acc_at = |epoch: u32| teacher.metrics.iter().find(|m| m.epoch == epoch).map_or(f64::NAN, |m| m.test_acc);
    let chosen = |path: PathBuf, epoch: u32| TeacherChoice {
        path,
        from: TeacherFrom::Run { record: Box::new(teacher.clone()), epoch, test_acc: acc_at(epoch) },
    };
    let epoch = match run.config.teacher_snapshot {
        None => return Ok(chosen(dir.best(), teacher.summary.selected_epoch())),
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
    Ok(chosen(path, epoch))
}

/// A teacher trained elsewhere: its file found ([`tfkd_io::paths::find_weights`]) and its sha256 checked
/// against the spec's `sha256`, or else against the 8 hex digits of a torchvision-style name
/// (`resnet18-f37072fd.pth`, as torch.hub checks them).
pub fn external(w: &ExternalTeacher) -> Result<TeacherChoice> {
    let fail = |detail: String| TrainError::TeacherWeights { name: w.weights.clone(), detail };
    let path = tfkd_io::paths::find_weights(&w.weights).map_err(|looked| {
        let places: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
        fail(format!(
            "not found; looked for {} (put the file in data/weights/, or set TFKD_WEIGHTS to its folder)",
            places.join(", ")
        ))
    })?;
    let sha256 = crate::state::sha256_file(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let expected = w.sha256.clone().or_else(|| w.name_digits().map(str::to_string));
    if let Some(want) = expected {
        if !sha256.starts_with(&want.to_ascii_lowercase()) {
            return Err(fail(format!(
                "{} has sha256 {sha256}, not the {want} its {} says: a different or damaged file",
                path.display(),
                if w.sha256.is_some() { "spec" } else { "name" }
            )));
        }
    }
    Ok(TeacherChoice { path, from: TeacherFrom::External { model: w.model, sha256 } })
}

/// A group of members sharing one teacher model.
#[derive(Debug)]
enum Group {
    /// tfkd teachers of one architecture, fused into one model with a member per student.
    Fused(Teacher, Vec<usize>),
    /// One teacher trained elsewhere, run on each of its students' batches in turn.
    Shared(Teacher, Vec<usize>),
}

/// The teachers of an array's members, grouped by architecture so each group runs as one fused model.
#[derive(Debug)]
pub struct Teachers {
    groups: Vec<Group>,
}

impl Teachers {
    /// Loads the teachers of the members that have one (`choices[a]` for member a) onto `device`.
    pub fn load(choices: &[Option<&TeacherChoice>], classes: usize, channels: usize, device: Device) -> Result<Self> {
        let mut keys: Vec<(Arch, ModelConfig, Option<&std::path::Path>)> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (a, choice) in choices.iter().enumerate() {
            let Some(c) = choice else { continue };
            let (arch, cfg) = c.model(classes, channels);
            let external = matches!(c.from, TeacherFrom::External { .. }).then_some(c.path.as_path());
            let key = (arch, cfg, external);
            match keys.iter().position(|k| *k == key) {
                Some(i) => members[i].push(a),
                None => {
                    keys.push(key);
                    members.push(vec![a]);
                }
            }
        }
        let mut groups = Vec::new();
        for ((arch, cfg, external), idx) in keys.into_iter().zip(members) {
            groups.push(match external {
                Some(path) => Group::Shared(Teacher::load_torchvision(path, arch, cfg, device)?, idx),
                None => {
                    let paths: Vec<&std::path::Path> =
                        idx.iter().map(|&a| choices[a].expect("grouped").path.as_path()).collect();
                    Group::Fused(Teacher::load_members(&paths, arch, cfg, device)?, idx)
                }
            });
        }
        Ok(Teachers { groups })
    }

    /// Each member's teacher logits (eval mode, no gradients) on its own batch `xs[a]`; `None` for members
    /// without a teacher.
    #[must_use]
    pub fn logits(&self, xs: &[Tensor]) -> Vec<Option<Tensor>> {
        let mut out: Vec<Option<Tensor>> = (0..xs.len()).map(|_| None).collect();
        for group in &self.groups {
            match group {
                Group::Fused(teacher, idx) => {
                    let batch: Vec<Tensor> = idx.iter().map(|&a| xs[a].shallow_clone()).collect();
                    let fused = teacher.logits(&member::stack_inputs(&batch));
                    for (i, &a) in idx.iter().enumerate() {
                        out[a] = Some(member::logits(&fused, i as i64, idx.len() as i64));
                    }
                }
                Group::Shared(teacher, idx) => {
                    for &a in idx {
                        out[a] = Some(teacher.logits(&xs[a]));
                    }
                }
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
    Ok(Some(curve(&record, &dir.best(), &plan.splits.test, (plan.splits.classes, plan.splits.channels))?))
}

/// Soft-target statistics of a trained teacher on a split as the temperature grows (inference only, on the CPU).
pub fn curve(
    teacher: &RunRecord,
    weights: &std::path::Path,
    split: &Images,
    (classes, channels): (usize, usize),
) -> Result<TeacherCurve> {
    let (arch, cfg) = prepare::model(&teacher.config, classes, channels);
    let net = Teacher::load(weights, arch, cfg, Device::Cpu)?;
    let loader = Loader::new(
        split.clone(),
        LoaderConfig {
            batch_size: 500,
            shuffle: false,
            augment: prepare::evaluation(&teacher.config.data),
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

#[cfg(test)]
mod tests {
    use tfkd_models::{Arch, Torchvision};
    use tfkd_spec::ExternalTeacher;

    fn teacher(weights: String, sha256: Option<String>) -> ExternalTeacher {
        ExternalTeacher { model: Arch::Torchvision(Torchvision::ResNet18), weights, sha256 }
    }

    fn reason(w: &ExternalTeacher) -> String {
        super::external(w).map(|c| format!("accepted {}", c.path.display())).unwrap_or_else(|e| e.to_string())
    }

    /// A teacher file is used only when its content is what the spec or its torchvision-style name says.
    #[test]
    fn external_weights_are_checked_against_their_name_or_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"not really weights";
        let sha = crate::state::sha256_file(&{
            let p = dir.path().join("probe");
            std::fs::write(&p, bytes).unwrap();
            p
        })
        .unwrap();
        let at = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p.to_str().unwrap().to_string()
        };
        let right = at(&format!("resnet18-{}.pth", &sha[..8]));
        let chosen = super::external(&teacher(right, None)).unwrap();
        assert_eq!(chosen.external_sha256(), Some(sha.as_str()));
        assert_eq!((chosen.epoch(), chosen.test_acc()), (None, None));
        let wrong = at("resnet18-00000000.pth");
        let why = reason(&teacher(wrong.clone(), None));
        assert!(why.contains("not the 00000000 its name says"), "{why}");
        assert!(reason(&teacher(wrong.clone(), Some(sha.clone()))).starts_with("accepted"), "the spec's sha256 rules");
        let why = reason(&teacher(wrong, Some("f".repeat(64))));
        assert!(why.contains("its spec says"), "{why}");
        assert!(reason(&teacher(at("plain.pth"), None)).starts_with("accepted"), "no digits, nothing to check");
        let missing = dir.path().join("absent/resnet18.pth").to_str().unwrap().to_string();
        let why = reason(&teacher(missing.clone(), None));
        assert!(why.contains("not found") && why.contains(&missing), "{why}");
    }

    #[test]
    fn torchvision_names_give_their_digits() {
        let digits = |name: &str| teacher(name.to_string(), None).name_digits().map(str::to_string);
        assert_eq!(digits("resnet18-f37072fd.pth").as_deref(), Some("f37072fd"));
        assert_eq!(digits("/w/resnext101_32x8d-8ba56ff5.pth").as_deref(), Some("8ba56ff5"));
        assert_eq!(digits("my-resnet.pth"), None);
        assert_eq!(digits("f37072fd.pth"), None);
        assert_eq!(digits("resnet18-f37072fd.safetensors"), None);
    }
}
