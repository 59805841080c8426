//! The cost of an ImageNet plan, from FLOPs: its models at 224×224 cannot be timed on a probe batch here in
//! reasonable time, and its point is a GPU budget. Each run costs, per epoch, its training images × (3 × the
//! student's forward FLOPs + the teacher's forward FLOPs) plus its evaluation images × the student's forward
//! FLOPs, at a sustained training rate in FLOP/s; and it cannot go faster than the input pipeline feeds it.
//!
//! The rate on a GPU is an assumption taken from a measurement: tfkd trains the CIFAR ResNet-50 (width 1,
//! batch 128, fp32) at [`H200_RESNET50_IMG_PER_S`] on an NVIDIA H200 (results/bench/h200/models.md), which
//! is that many × 3 × its forward FLOPs. 224-pixel models fill a GPU at least as well as 32-pixel ones, and
//! bf16 autocast, which the paper profile uses, was not faster on that machine, so the rate is neither
//! raised for size nor for precision. On the CPU the rate is measured: ResNet-18's training speed on a
//! probe batch here (cached), × 3 × its forward FLOPs.

use std::collections::BTreeMap;

use tch::{nn, Device};
use tfkd_models::{Arch, ModelConfig, Network};
use tfkd_spec::PlannedRun;

use crate::schedule::{engine_schedule, human, Sizes};

/// tfkd's CIFAR ResNet-50 training speed (width 1, batch 128, fp32) on one NVIDIA H200, img/s, measured
/// by `tfkd bench models --device cuda` on 2026-11-28 (results/bench/h200/models.md).
pub const H200_RESNET50_IMG_PER_S: f64 = 5864.6;

/// Decoded and transformed ImageNet training images per second per core of tfkd's input pipeline, as
/// `just bench-data imagenet` measured it on the 2-core build machine with libjpeg-turbo's SIMD (nasm
/// present at build time; results/bench/data-imagenet.md, 2026-12-03): 550.6 img/s on 2 cores.
pub const PIPELINE_IMG_PER_S_PER_CORE: f64 = 275.3;

/// Cores the input pipeline has on a GPU node (the H200 machine has 16; a Slurm node's share is similar).
pub const GPU_NODE_CORES: f64 = 16.0;

/// Side of the square crops the ImageNet models train and evaluate on.
pub const IMAGE: i64 = 224;

/// A FLOPs-based estimate of a plan.
#[derive(Debug, Clone)]
pub struct FlopsEstimate {
    /// Seconds per run left, by label, one run per device.
    pub per_run: BTreeMap<String, f64>,
    /// Wall seconds of the plan on `jobs` devices, teachers before students.
    pub wall: f64,
    /// Devices at once.
    pub jobs: usize,
    /// The training rate assumed, FLOP/s, and where it comes from.
    pub rate: (f64, String),
    /// Whether the estimate is for GPUs (hours per GPU) or this CPU.
    pub gpu: bool,
    /// The jobs the engine will start, in order, as their members' run ids (several: a fused array, costed as
    /// the sum of its members' FLOPs at the device's rate).
    pub planned_jobs: Vec<Vec<String>>,
}

impl FlopsEstimate {
    /// Seconds of device time summed over the runs (GPU-seconds on GPUs).
    #[must_use]
    pub fn device_seconds(&self) -> f64 {
        self.per_run.values().sum()
    }
}

impl std::fmt::Display for FlopsEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.device_seconds();
        if self.gpu {
            write!(
                f,
                "estimated cost: {:.0} GPU-hours for {} run(s), one GPU per run ({} on one GPU, {} with {} GPUs \
                 at once)",
                total / 3600.0,
                self.per_run.len(),
                human(total),
                human(self.wall),
                self.jobs
            )?;
        } else {
            write!(f, "estimated time here: {} ({total:.0} s) for {} run(s)", human(self.wall), self.per_run.len())?;
        }
        let (rate, unit) =
            if self.rate.0 >= 1e12 { (self.rate.0 / 1e12, "TFLOP/s") } else { (self.rate.0 / 1e9, "GFLOP/s") };
        write!(f, "; from forward FLOPs at 224×224 and {rate:.1} {unit} ({})", self.rate.1)
    }
}

/// Forward FLOPs per 224×224 image of each architecture the runs train or learn from, at `classes`.
fn flops_of(runs: &[PlannedRun], classes: usize) -> anyhow::Result<Vec<(Arch, f64)>> {
    let mut out: Vec<(Arch, f64)> = Vec::new();
    let archs = runs.iter().flat_map(|p| std::iter::once(p.config.model).chain(teacher_arch(p)));
    for arch in archs {
        if !out.iter().any(|(a, _)| *a == arch) {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Network::build(&vs, arch, ModelConfig::new(classes as i64))?;
            out.push((arch, net.flops(IMAGE, IMAGE, Device::Cpu) as f64));
        }
    }
    Ok(out)
}

/// The architecture of a run's teacher trained elsewhere (a teacher run's is found among the runs).
fn teacher_arch(p: &PlannedRun) -> Option<Arch> {
    p.config.teacher_weights.as_ref().map(|w| w.model)
}

/// The training rate of a GPU: [`H200_RESNET50_IMG_PER_S`] × 3 × the CIFAR ResNet-50's forward FLOPs.
pub fn gpu_rate() -> anyhow::Result<(f64, String)> {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, Arch::ResNet50, ModelConfig::new(10))?;
    let flops = net.flops(32, 32, Device::Cpu) as f64;
    Ok((
        H200_RESNET50_IMG_PER_S * 3.0 * flops,
        format!(
            "tfkd's CIFAR ResNet-50 training on an NVIDIA H200, {H200_RESNET50_IMG_PER_S} img/s; input pipeline \
             capped at {GPU_NODE_CORES} cores × {PIPELINE_IMG_PER_S_PER_CORE} img/s"
        ),
    ))
}

/// Estimates what is left of `runs` (`left`: indices of unfinished runs) on `jobs` devices at `rate` FLOP/s,
/// with the input pipeline feeding at most `feed` img/s.
pub fn estimate(
    runs: &[PlannedRun],
    left: &[usize],
    sizes: Sizes,
    jobs: usize,
    (rate, source): (f64, String),
    feed: f64,
    gpu: bool,
) -> anyhow::Result<FlopsEstimate> {
    let table = flops_of(runs, sizes.classes)?;
    let flops = |arch: Arch| table.iter().find(|(a, _)| *a == arch).map_or(0.0, |(_, f)| *f);
    let (train, eval) = (sizes.train as f64, (sizes.val + sizes.test) as f64);
    let teachers = tfkd_spec::teacher_indices(runs);
    let cost = |i: usize| {
        let p = &runs[i];
        let student = flops(p.config.model);
        let teacher = teachers[i].map(|t| runs[t].config.model).or_else(|| teacher_arch(p)).map_or(0.0, flops);
        let compute = (train * (3.0 * student + teacher) + eval * student) / rate;
        let fed = (train + eval) / feed;
        f64::from(p.config.train.epochs) * compute.max(fed)
    };
    let costs: Vec<Option<f64>> = (0..runs.len()).map(|i| left.contains(&i).then(|| cost(i))).collect();
    let per_run = left.iter().map(|&i| (runs[i].config.label(), costs[i].unwrap_or(0.0))).collect();
    let array = tfkd_trainers::schedule::array_limit(runs, gpu);
    let planned = engine_schedule(runs, &costs, &vec![(0, 0); runs.len()], jobs, array);
    let planned_jobs = planned.run_ids(runs);
    Ok(FlopsEstimate { per_run, wall: planned.seconds, jobs, rate: (rate, source), gpu, planned_jobs })
}

#[cfg(test)]
mod tests {
    /// The GPU rate is the measured ResNet-50 speed times 3 × its forward FLOPs: 1.30 GMAC per 32×32 image
    /// (2.6 GFLOPs), so about 45.8 TFLOP/s — a number a reader can check against the benchmark file.
    #[test]
    fn the_gpu_rate_follows_from_the_measured_resnet50() {
        let (rate, source) = super::gpu_rate().unwrap();
        assert!((40e12..52e12).contains(&rate), "{rate}");
        assert!(source.contains("5864.6"), "{source}");
    }
}
