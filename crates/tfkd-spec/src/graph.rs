//! The run graph: teachers before students, content-addressed run ids, snapshots teachers must keep.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{config::RunConfig, resolve::Experiment, schema::Snapshot};

/// A run ready to execute: its config, id, teacher's id and the snapshots dependents need from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRun {
    /// Resolved settings.
    pub config: RunConfig,
    /// Content hash of everything that determines the run's result (16 hex digits).
    pub run_id: String,
    /// The teacher run's id.
    pub teacher_id: Option<String>,
    /// Epochs (1-based) whose weights dependents use as teachers.
    pub keep_epochs: Vec<u32>,
    /// Keep every epoch's weights (a dependent picks a snapshot by accuracy).
    pub keep_all_epochs: bool,
}

/// Bumped whenever training semantics change, so old cached runs are not reused (2: rotation reproduces
/// Pillow exactly, dropout masks drawn from counter-based keys).
pub const RUN_FORMAT: &str = "tfkd-run-2";

#[derive(Serialize)]
struct Identity<'a> {
    format: &'static str,
    seed: u64,
    model: &'a tfkd_names::Arch,
    method: &'a crate::schema::Method,
    teacher_id: Option<&'a str>,
    /// An external teacher by file name and, when the spec gives it, sha256 (the folder is not part of the id).
    #[serde(skip_serializing_if = "Option::is_none")]
    teacher_weights: Option<(&'a tfkd_names::Arch, &'a str, Option<&'a str>)>,
    teacher_snapshot: Option<Snapshot>,
    data: &'a crate::config::DataConfig,
    data_hash: &'a str,
    train: &'a crate::config::TrainConfig,
    model_options: &'a crate::config::ModelOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    kl_classes: Option<usize>,
    /// An explicit fused-array size (`train.array: N`, N ≥ 2): a fused array computes other bits than its
    /// members alone with libtorch's production CPU kernels (oneDNN sums in another order), so such runs get
    /// ids of their own and a cache never mixes them silently with runs trained alone. `auto` and `off` are
    /// not part of the id: on the CPU `auto` never groups, and on a GPU runs are not bit-reproducible anyway
    /// (their records name the device and the array they trained in).
    #[serde(skip_serializing_if = "Option::is_none")]
    array: Option<usize>,
}

/// The run id: sha256 over the resolved settings (not the entry's name), the teacher's run id and the
/// data's content hash. Equal settings in different targets give the same id, so they train once.
#[must_use]
pub fn run_id(config: &RunConfig, teacher_id: Option<&str>, data_hash: &str) -> String {
    let identity = Identity {
        format: RUN_FORMAT,
        seed: config.seed,
        model: &config.model,
        method: &config.method,
        teacher_id,
        teacher_weights: config.teacher_weights.as_ref().map(|w| (&w.model, w.file_name(), w.sha256.as_deref())),
        teacher_snapshot: config.teacher_snapshot,
        data: &config.data,
        data_hash,
        train: &config.train,
        model_options: &config.model_options,
        kl_classes: config.kl_classes,
        array: match config.train.array {
            crate::schema::ArrayMode::Max(n) if n > 1 => Some(n),
            _ => None,
        },
    };
    let json = serde_json::to_string(&identity).expect("serialisable");
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Each run's teacher as an index into `runs` (`None`: no teacher, or one outside `runs`): the one lookup every
/// planner (the engine, Slurm's, the estimates) uses.
#[must_use]
pub fn teacher_indices(runs: &[PlannedRun]) -> Vec<Option<usize>> {
    let at: std::collections::HashMap<&str, usize> =
        runs.iter().enumerate().map(|(i, p)| (p.run_id.as_str(), i)).collect();
    runs.iter().map(|p| p.teacher_id.as_deref().and_then(|t| at.get(t).copied())).collect()
}

/// Orders the runs (teachers first, then spec order) and assigns ids.
#[must_use]
pub fn plan(exp: &Experiment, data_hash: &str) -> Vec<PlannedRun> {
    let depth = |cfg: &RunConfig| {
        let mut d = 0;
        let mut cur = cfg.teacher.clone();
        while let Some(t) = cur {
            d += 1;
            cur = exp.runs.iter().find(|r| r.id == t).and_then(|r| r.teacher.clone());
        }
        d
    };
    let mut order: Vec<&RunConfig> = exp.runs.iter().collect();
    order.sort_by_key(|r| depth(r)); // stable: spec order within a depth
    let mut planned: Vec<PlannedRun> = Vec::new();
    for cfg in order {
        let teacher_id = cfg.teacher.as_ref().map(|t| {
            planned
                .iter()
                .find(|p| &p.config.id == t && p.config.seed == cfg.seed)
                .expect("teachers are planned first")
                .run_id
                .clone()
        });
        planned.push(PlannedRun {
            run_id: run_id(cfg, teacher_id.as_deref(), data_hash),
            config: cfg.clone(),
            teacher_id,
            keep_epochs: Vec::new(),
            keep_all_epochs: false,
        });
    }
    let requests: Vec<(String, Snapshot)> =
        planned.iter().filter_map(|p| Some((p.teacher_id.clone()?, p.config.teacher_snapshot?))).collect();
    for (teacher, snapshot) in requests {
        for p in planned.iter_mut().filter(|p| p.run_id == teacher) {
            match snapshot {
                Snapshot::Epoch(e) => {
                    if !p.keep_epochs.contains(&e) {
                        p.keep_epochs.push(e);
                        p.keep_epochs.sort_unstable();
                    }
                }
                Snapshot::Accuracy(_) => p.keep_all_epochs = true,
            }
        }
    }
    planned
}
