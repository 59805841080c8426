//! How runs are grouped into arrays: the [`ArrayKey`] that runs must share to be fused, and [`Jobs`], the one
//! grouping rule of every executor.

use tfkd_spec::{
    names::{Arch, NormalizePreset, Precision},
    PlannedRun,
};

/// What fused members must share: the same model (and width, and the GoogLeNet quirk), batch size, epochs,
/// precision, Nesterov, normalisation, threads, and whether momentum is used.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The architecture.
    pub model: Arch,
    /// Its width multiplier.
    pub width: f64,
    /// The GoogLeNet BN-eps quirk.
    pub googlenet_bn_eps_quirk: bool,
    /// Batch size.
    pub batch_size: usize,
    /// Epochs.
    pub epochs: u32,
    /// Precision.
    pub precision: Precision,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Normalisation.
    pub normalize: NormalizePreset,
    /// libtorch threads.
    pub threads: usize,
    /// Whether momentum is used at all.
    pub momentum: bool,
}

/// What makes runs one array: the same [`Shape`] and the same resume position (epoch, batch). Compared by the
/// engine and the Slurm submitter to group runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayKey {
    /// What the members share.
    pub shape: Shape,
    /// Where they resume, as (epoch, batch).
    pub position: (u32, usize),
}

impl ArrayKey {
    /// The key of a run resuming at `position` (epoch, batch).
    #[must_use]
    pub fn of(run: &PlannedRun, position: (u32, usize)) -> Self {
        let c = &run.config;
        let shape = Shape {
            model: c.model,
            width: c.model_options.width,
            googlenet_bn_eps_quirk: c.model_options.googlenet_bn_eps_quirk,
            batch_size: c.train.batch_size,
            epochs: c.train.epochs,
            precision: c.train.precision,
            nesterov: c.train.nesterov,
            normalize: c.data.normalize,
            threads: c.train.threads,
            momentum: c.train.momentum != 0.0,
        };
        ArrayKey { shape, position }
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
