//! Cost before the run: how long a plan would take here, from throughput measured on this machine.
//!
//! Each (model, width, batch, threads, device, numerics) the plan trains is measured once — a few training
//! steps and forward passes on a probe batch of at most 32 random images, and once the augmentation
//! pipeline's cost per image — and cached in `.cache/throughput.json` under this CPU and libtorch, so a
//! later estimate costs nothing. A run's time is then its epochs × (its training images at the measured
//! training speed, plus augmentation on the same cores on the CPU, plus a teacher's forward pass per batch
//! for the methods that have one, plus validation and test at the forward speed); runs are scheduled
//! `--jobs` at a time, each student after its teacher, as the engine schedules them. Runs already finished
//! cost nothing. `check` measures nothing but ResNet-18 at two widths and prices every other setting from its
//! FLOPs and layer count against them ([`Unmeasured::FromFlops`]).

use std::{sync::Arc, time::Instant};

pub use crate::schedule::{engine_schedule, human, Sizes};
use tch::{Device, Kind, Tensor};
use tfkd_bench::timer::{time_steps, Budget};
use tfkd_datasets::Split;
use tfkd_losses::{CrossEntropy, Loss};
use tfkd_models::{Arch, ForwardCost, ModelConfig};
use tfkd_spec::PlannedRun;
use tfkd_trainers::{
    state::{RunDir, RunState},
    step::{Hyper, Step},
    Context, Event, Observer,
};

/// Seconds of training above which `reproduce` asks for `--yes` (on a terminal) or warns.
pub const CONFIRM_ABOVE_SECONDS: f64 = 3.0 * 3600.0;

/// The largest probe batch a setting is measured on.
const PROBE: usize = 32;

/// Seconds a run costs besides its epochs: a worker's start, loading the cached data, checkpoints.
const PER_RUN_OVERHEAD: f64 = 2.0;

mod cache;

pub use cache::Speed;
use cache::{cache_path, Cache};

fn machine(ctx: &Context) -> String {
    let cpu = tfkd_trainers::provenance::cpu().0.unwrap_or_else(|| "unknown CPU".into());
    format!("{cpu} | {} | libtorch {} | {}", ctx.device_name, ctx.libtorch, ctx.numerics)
}

/// The estimate of a plan.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// Seconds of wall time for what is left.
    pub seconds: f64,
    /// Runs left to train.
    pub runs: usize,
    /// Jobs at once.
    pub jobs: usize,
    /// Settings measured now (not found in the cache).
    pub measured_now: usize,
    /// The largest share of the CPUs other processes took while a speed this estimate uses was measured, when
    /// any was measured under load ([`crate::contention::BUSY_SHARE`]).
    pub measured_under_load: Option<f64>,
    /// Settings not measured here, estimated from their FLOPs against ResNet-18's measured speed.
    pub from_flops: usize,
    /// The slowest setting: its description and training speed.
    pub slowest: Option<(String, f64)>,
    /// Seconds estimated for each run left, by label (`id@seed`), one run alone.
    pub per_run: std::collections::BTreeMap<String, f64>,
    /// For ImageNet plans: the estimate from FLOPs that `seconds` is ([`crate::flops_estimate`]).
    pub flops: Option<crate::flops_estimate::FlopsEstimate>,
    /// The jobs the engine will start, in order, as the run ids of their members: a job of several runs is a
    /// fused array ([`engine_schedule`]).
    pub planned_jobs: Vec<Vec<String>>,
}

impl Estimate {
    /// The estimate of a plan whose runs have all finished.
    fn nothing_left(jobs: usize) -> Estimate {
        Estimate {
            seconds: 0.0,
            runs: 0,
            jobs,
            measured_now: 0,
            measured_under_load: None,
            from_flops: 0,
            slowest: None,
            per_run: Default::default(),
            flops: None,
            planned_jobs: Vec::new(),
        }
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.runs == 0 {
            return write!(f, "estimated time here: nothing left to train");
        }
        if let Some(flops) = &self.flops {
            write!(f, "{flops}")?;
            if let Some(share) = self.measured_under_load {
                write!(f, "{}", under_load_note(share))?;
            }
            return Ok(());
        }
        write!(
            f,
            "estimated time here: {} ({:.0} s) for {} run(s), {} at once",
            human(self.seconds),
            self.seconds,
            self.runs,
            self.jobs
        )?;
        if let Some((what, ips)) = &self.slowest {
            write!(f, " (slowest model: {what} at {ips:.0} training img/s)")?;
        }
        let fused: Vec<usize> = self.planned_jobs.iter().map(Vec::len).filter(|&n| n > 1).collect();
        if let Some(largest) = fused.iter().max() {
            write!(
                f,
                "; {} fused array(s) of up to {largest} runs, each costed as its runs one after another (fusion's \
                 gain is not measured here)",
                fused.len()
            )?;
        }
        write!(f, "; from throughput measured on this machine")?;
        if self.measured_now > 0 {
            write!(f, " ({} setting(s) measured just now, cached for next time)", self.measured_now)?;
        }
        if let Some(share) = self.measured_under_load {
            write!(f, "{}", under_load_note(share))?;
        }
        if self.from_flops > 0 {
            write!(
                f,
                "; {} setting(s) not measured here yet, estimated from their FLOPs and layer count against ResNet-18 \
                 measured here at widths 1 and 1/8 (depthwise models run slower per FLOP than that; `run` measures \
                 them before training)",
                self.from_flops
            )?;
        }
        Ok(())
    }
}

/// What an estimate says of speeds measured while others took `share` of the CPUs.
fn under_load_note(share: f64) -> String {
    format!(
        "; some speeds were measured while other processes took up to {:.0}% of the CPUs, so this may run long \
         (the first estimate made on a quiet machine measures them again)",
        share * 100.0
    )
}

/// Seconds of each planned run that is not finished (0 for finished ones), from `speed_of` its settings.
fn run_seconds(
    runs: &[PlannedRun],
    sizes: Sizes,
    (p, teacher): (&PlannedRun, Option<usize>),
    speed_of: &dyn Fn(&PlannedRun) -> Speed,
    augment: f64,
) -> f64 {
    let c = &p.config;
    let (train, val, test) = (sizes.train as f64, sizes.val as f64, sizes.test as f64);
    let s = speed_of(p);
    let teacher = teacher.map_or(0.0, |t| train / speed_of(&runs[t]).eval_img_per_s);
    let per_epoch = train / s.train_img_per_s + train * augment + teacher + (val + test) / s.eval_img_per_s;
    PER_RUN_OVERHEAD + f64::from(c.train.epochs) * per_epoch
}

/// How an estimate gets the speed of a setting it has not measured on this machine yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmeasured {
    /// Measure it now (a few training steps; seconds to minutes for the paper's models on a CPU) and cache it.
    Measure,
    /// Estimate it from its FLOPs and layers against ResNet-18 measured here at widths 1 and 1/8 (two short
    /// probes, cached): `check` answers in seconds on any machine.
    FromFlops,
}

/// Estimates what is left of `runs` (teachers first) on splits of `sizes`, with `jobs` jobs at once and
/// `threads` libtorch threads per run (0: all cores).
pub fn estimate(
    runs: &[PlannedRun],
    sizes: Sizes,
    ctx: &Context,
    (jobs, threads): (usize, usize),
    unmeasured: Unmeasured,
) -> anyhow::Result<Estimate> {
    let path = cache_path();
    let mut cache = Cache::read(&path);
    cache.retire_loaded();
    let machine = machine(ctx);
    // Left to train: all but the finished runs whose weights are sound (a finished run with damaged weights is
    // repaired, so it is counted, as a whole run at most) and the failed ones.
    // Each run's folder read once: whether it is left, and where it would resume (the engine groups runs by it).
    let (mut left, mut starts) = (Vec::new(), Vec::with_capacity(runs.len()));
    for (i, p) in runs.iter().enumerate() {
        let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
        let state = dir.state().ok();
        let is_left = match &state {
            Some(RunState::Done(record)) => !dir.verify(record).is_empty(),
            Some(RunState::Failed(_)) => false,
            _ => true,
        };
        if is_left {
            left.push(i);
        }
        starts.push(state.and_then(|s| s.resume_position()).unwrap_or((0, 0)));
    }
    let all = || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = if threads == 0 { all() } else { threads };
    let key = |p: &PlannedRun| {
        let c = &p.config;
        format!(
            "{machine} | {} w{} batch {} threads {threads} k{}",
            c.model, c.model_options.width, c.train.batch_size, sizes.classes
        )
    };
    if left.is_empty() {
        return Ok(Estimate::nothing_left(jobs));
    }
    if runs[0].config.data.source.descriptor().streamed() {
        return by_flops(runs, &left, sizes, ctx, (jobs, threads), &mut cache, &path);
    }
    let teacher = tfkd_spec::teacher_indices(runs);
    let needed: std::collections::BTreeSet<usize> =
        left.iter().flat_map(|&i| std::iter::once(i).chain(teacher[i])).collect();
    let needed: Vec<(String, &PlannedRun)> = needed.iter().map(|&i| (key(&runs[i]), &runs[i])).collect();
    let Unknown { estimated, measured_now, from_flops, reference_load } =
        speeds_of_unknown(&needed, sizes, ctx, threads, unmeasured, &mut cache)?;
    let augment = if ctx.device.is_cuda() {
        0.0 // overlapped with the GPU's work by the loader threads
    } else {
        match cache.augment_cpu_s_per_img.get(&machine) {
            Some(&a) => a,
            None => {
                let a = augment_cost(&runs[0])?;
                cache.augment_cpu_s_per_img.insert(machine.clone(), a);
                a
            }
        }
    };
    if measured_now > 0 {
        cache.write(&path)?;
    }
    let under_load = cache.load_of(needed.iter().map(|(k, _)| k)).into_iter().chain(reference_load).reduce(f64::max);
    let speed_of =
        |p: &PlannedRun| cache.speeds.get(&key(p)).or_else(|| estimated.get(&key(p))).copied().unwrap_or_default();
    let costs: Vec<Option<f64>> = (0..runs.len())
        .map(|i| left.contains(&i).then(|| run_seconds(runs, sizes, (&runs[i], teacher[i]), &speed_of, augment)))
        .collect();
    let slowest = left
        .iter()
        .map(|&i| &runs[i])
        .map(|p| (format!("{} width {}", p.config.model, p.config.model_options.width), speed_of(p).train_img_per_s))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let per_run = left.iter().map(|&i| (runs[i].config.label(), costs[i].unwrap_or(0.0))).collect();
    let array = tfkd_trainers::schedule::array_limit(runs, ctx.device.is_cuda());
    let planned = engine_schedule(runs, &costs, &starts, jobs, array);
    Ok(Estimate {
        seconds: planned.seconds,
        runs: left.len(),
        jobs,
        measured_now,
        measured_under_load: under_load,
        from_flops,
        slowest,
        per_run,
        planned_jobs: planned.run_ids(runs),
        flops: None,
    })
}

/// An ImageNet plan's estimate from FLOPs ([`crate::flops_estimate`]): at the GPU rate on a GPU, on the CPU at
/// ResNet-18's training speed measured here (cached like every speed) turned into FLOP/s.
fn by_flops(
    runs: &[PlannedRun],
    left: &[usize],
    sizes: Sizes,
    ctx: &Context,
    (jobs, threads): (usize, usize),
    cache: &mut Cache,
    path: &std::path::Path,
) -> anyhow::Result<Estimate> {
    use crate::flops_estimate as fe;
    let gpu = ctx.device.is_cuda();
    let (mut measured_now, mut under_load) = (0, None);
    let (rate, feed) = if gpu {
        (fe::gpu_rate()?, fe::GPU_NODE_CORES * fe::PIPELINE_IMG_PER_S_PER_CORE)
    } else {
        let reference = cpu_cost_model(ctx, threads, cache)?;
        under_load = reference.load;
        if reference.measured > 0 {
            measured_now += reference.measured;
            cache.write(path)?;
        }
        let (rate, ips) = (reference.flop_per_s, reference.img_per_s);
        let source = format!(
            "ResNet-18 training measured here at widths 1 and 1/8 on 32×32 images ({ips:.0} img/s at width 1), its \
             per-layer cost taken out"
        );
        ((rate, source), threads as f64 * fe::PIPELINE_IMG_PER_S_PER_CORE)
    };
    let flops = fe::estimate(runs, left, sizes, jobs, rate, feed, gpu)?;
    Ok(Estimate {
        seconds: flops.wall,
        runs: left.len(),
        jobs,
        measured_now,
        measured_under_load: under_load,
        from_flops: 0,
        slowest: None,
        per_run: flops.per_run.clone(),
        planned_jobs: flops.planned_jobs.clone(),
        flops: Some(flops),
    })
}

/// The settings of a plan the throughput cache does not hold yet: measured (and cached) or estimated from FLOPs.
struct Unknown {
    /// Speeds estimated from FLOPs, by cache key (not cached: they were not measured).
    estimated: std::collections::BTreeMap<String, Speed>,
    /// Settings measured now.
    measured_now: usize,
    /// Settings estimated from FLOPs.
    from_flops: usize,
    /// The load ResNet-18's reference speeds were measured under, when the FLOPs estimates used them.
    reference_load: Option<f64>,
}

fn speeds_of_unknown(
    needed: &[(String, &PlannedRun)],
    sizes: Sizes,
    ctx: &Context,
    threads: usize,
    unmeasured: Unmeasured,
    cache: &mut Cache,
) -> anyhow::Result<Unknown> {
    let mut out =
        Unknown { estimated: std::collections::BTreeMap::new(), measured_now: 0, from_flops: 0, reference_load: None };
    let mut reference: Option<Reference> = None;
    for (k, p) in needed {
        let c = &p.config;
        if cache.speeds.contains_key(k) || out.estimated.contains_key(k) {
            continue;
        }
        if unmeasured == Unmeasured::Measure {
            cache.measure(k, || {
                measure(c.model, c.model_options.width, c.train.batch_size, sizes.classes, threads, ctx.device)
            })?;
            out.measured_now += 1;
        } else {
            let r = match reference {
                Some(r) => r,
                None => {
                    let r = cpu_cost_model(ctx, threads, cache)?;
                    out.measured_now += r.measured;
                    out.reference_load = r.load;
                    *reference.insert(r)
                }
            };
            let train =
                r.train_img_per_s(model_cost(c.model, c.model_options.width, sizes.classes)?, c.train.batch_size);
            out.estimated.insert(k.clone(), Speed { train_img_per_s: train, eval_img_per_s: 3.0 * train });
            out.from_flops += 1;
        }
    }
    Ok(out)
}

/// This CPU's cost model of a training step on a probe batch of P images: P × 3 × forward FLOPs ÷ `flop_per_s`,
/// plus `layer_s` for each conv and linear layer (the fixed cost of launching its kernels, forward and backward,
/// with the normalisation and activation around it; on a CPU it is most of a small model's step). Both are
/// fitted to ResNet-18 measured at widths 1 and 1/8, which run the same layers at FLOPs about 50× apart.
#[derive(Debug, Clone, Copy)]
struct Reference {
    /// ResNet-18's training images per second at width 1.
    img_per_s: f64,
    /// Training FLOP/s once the per-layer cost is taken out.
    flop_per_s: f64,
    /// Seconds per layer per training step (0 when the two measurements do not resolve it, e.g. noise).
    layer_s: f64,
    /// Settings measured now (and cached) rather than read from the cache.
    measured: usize,
    /// The load its speeds were measured under, when under load.
    load: Option<f64>,
}

impl Reference {
    /// Fits the model to ResNet-18's training speeds at width 1 (`wide`) and 1/8 (`narrow`), img/s on the probe.
    fn fit(wide: (f64, ForwardCost), narrow: (f64, ForwardCost), measured: usize) -> Reference {
        let probe = PROBE as f64;
        let step = |ips: f64| probe / ips;
        let work = |c: ForwardCost| probe * 3.0 * c.flops as f64;
        let flops_only = Reference {
            img_per_s: wide.0,
            flop_per_s: wide.0 * 3.0 * wide.1.flops as f64,
            layer_s: 0.0,
            measured,
            load: None,
        };
        let (dt, dw) = (step(wide.0) - step(narrow.0), work(wide.1) - work(narrow.1));
        if !(dt > 0.0 && dw > 0.0 && wide.1.layers == narrow.1.layers && wide.1.layers > 0) {
            return flops_only;
        }
        let flop_per_s = dw / dt;
        let layer_s = (step(narrow.0) - work(narrow.1) / flop_per_s) / wide.1.layers as f64;
        if layer_s.is_finite() && layer_s > 0.0 {
            Reference { img_per_s: wide.0, flop_per_s, layer_s, measured, load: None }
        } else {
            flops_only
        }
    }

    /// Training images per second of a model of `cost` at `batch` (measured on a probe of at most [`PROBE`]).
    fn train_img_per_s(&self, cost: ForwardCost, batch: usize) -> f64 {
        let probe = batch.clamp(1, PROBE) as f64;
        probe / (probe * 3.0 * cost.flops as f64 / self.flop_per_s + cost.layers as f64 * self.layer_s)
    }
}

/// The CPU's cost model ([`Reference`]): ResNet-18 at widths 1 and 1/8, measured now and cached when the cache
/// lacks them.
fn cpu_cost_model(ctx: &Context, threads: usize, cache: &mut Cache) -> anyhow::Result<Reference> {
    let mut measured = 0;
    let mut keys = Vec::new();
    let mut speed = |width: f64| -> anyhow::Result<(f64, ForwardCost)> {
        let key = format!("{} | resnet18 w{width} batch 128 threads {threads} k10", machine(ctx));
        if !cache.speeds.contains_key(&key) {
            cache.measure(&key, || measure(Arch::ResNet18, width, 128, 10, threads, ctx.device))?;
            measured += 1;
        }
        let speed = cache.speeds[&key].train_img_per_s;
        keys.push(key);
        Ok((speed, model_cost(Arch::ResNet18, width, 10)?))
    };
    let (wide, narrow) = (speed(1.0)?, speed(0.125)?);
    Ok(Reference { load: cache.load_of(&keys), ..Reference::fit(wide, narrow, measured) })
}

/// Forward FLOPs and layers of one 32×32 image through `arch` at `width` with `classes` outputs.
fn model_cost(arch: Arch, width: f64, classes: usize) -> anyhow::Result<ForwardCost> {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let net = tfkd_models::Network::build(&vs, arch, ModelConfig { width, ..ModelConfig::new(classes as i64) })?;
    Ok(net.forward_cost(32, 32, Device::Cpu))
}

/// Training and forward speed of one setting on a probe batch of at most 32 random images.
fn measure(
    arch: Arch,
    width: f64,
    batch: usize,
    classes: usize,
    threads: usize,
    device: Device,
) -> anyhow::Result<Speed> {
    let before = tch::get_num_threads();
    tch::set_num_threads(i32::try_from(threads)?);
    let result = (|| -> anyhow::Result<Speed> {
        tch::manual_seed(0);
        let probe = batch.clamp(1, PROBE) as i64;
        let config = ModelConfig { width, ..ModelConfig::new(classes as i64) };
        let mut step = Step::new(device, arch, config, &Hyper::official(1), false)?;
        let loss = [Loss::CrossEntropy(CrossEntropy)];
        let x = Tensor::randn([probe, 3, 32, 32], (Kind::Float, device));
        let y = Tensor::randint(classes as i64, [probe], (Kind::Int64, device));
        // One warm-up step, then at least 3 and at most 50 steps within 0.75 s: a probe, not a benchmark.
        let budget = Budget { warmup: 1, min_steps: 3, max_steps: 50, seconds: 0.75, sync_every: 0 };
        let timed = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
            Ok(time_steps(device, budget, f)?.rate(probe as usize))
        };
        let train = timed(&mut || {
            step.train(&[x.shallow_clone()], &[y.shallow_clone()], &loss, &[], &[0.01])?;
            Ok(())
        })?;
        let eval = timed(&mut || {
            let _ = step.evaluate(&x);
            Ok(())
        })?;
        Ok(Speed { train_img_per_s: train, eval_img_per_s: eval })
    })();
    tch::set_num_threads(before);
    result
}

/// CPU-seconds of augmentation per image: 1,024 random 32×32 images through the loader with `p`'s augmentation.
fn augment_cost(p: &PlannedRun) -> anyhow::Result<f64> {
    let c = &p.config;
    let n = 1024;
    let mut split = Split::empty([3, 32, 32]);
    split.images = (0..n * 3072).map(|i| ((i * 2_654_435_761_usize) >> 13) as u8).collect();
    split.labels = (0..n).map(|i| (i % 10) as u16).collect();
    let split = Arc::new(split);
    let config = tfkd_datasets::LoaderConfig {
        batch_size: c.train.batch_size,
        shuffle: true,
        augment: tfkd_trainers::prepare::augment(&c.data),
        normalize: tfkd_trainers::prepare::normalize(&c.data, 3)?,
        seed: 0,
        prefetch: c.data.prefetch,
    };
    let loader = tfkd_datasets::Loader::new(split, config)?;
    let threads = rayon::current_num_threads() as f64;
    let start = Instant::now();
    let mut done = 0;
    for batch in loader.epoch(0, 0) {
        done += batch?.labels.size()[0];
    }
    Ok(start.elapsed().as_secs_f64() * threads / done.max(1) as f64)
}

/// Says the estimate (a note to `obs`) and, above [`CONFIRM_ABOVE_SECONDS`], asks `obs` to go on (unless
/// `yes`): `false` when the user declined or nobody could be asked (a days-long plan is never started unasked).
pub fn confirm(estimate: &Estimate, profile: &str, device: Device, yes: bool, obs: &mut dyn Observer) -> bool {
    obs.event(&Event::note(estimate.to_string()));
    if estimate.seconds <= CONFIRM_ABOVE_SECONDS || yes {
        return true;
    }
    let mut ways = Vec::new();
    if !device.is_cuda() {
        ways.push("a GPU (`--device cuda`)".to_string());
    }
    ways.push("a cluster (`--executor slurm`)".into());
    if profile != "quick" && profile != "smoke" {
        ways.push("a smaller profile (`--profile quick`)".into());
    }
    let advice = format!("that is long for this machine; what would make it feasible: {}", ways.join(", "));
    match obs.confirm(&format!("{advice}.\nTrain here anyway?")) {
        Some(answer) => answer,
        None => {
            obs.event(&Event::note(format!(
                "{advice}.\nNo terminal to ask on, so nothing was started; pass --yes to train here anyway."
            )));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(42.0), "42 s");
        assert_eq!(human(14.0 * 60.0), "14 min");
        assert_eq!(human(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(human(5.0 * 86_400.0), "5.0 days");
    }

    /// Speeds generated by a known cost model are fitted back to it, and a small model with many layers is priced
    /// far slower than its FLOPs alone would say; measurements the model cannot explain (the narrow network
    /// slower than the wide one, as noise can make it) fall back to FLOPs alone instead of a negative cost.
    #[test]
    fn the_cost_model_is_fitted_from_two_widths() {
        let (rate, layer_s) = (2.0e10, 5.0e-4);
        let ips =
            |c: ForwardCost| PROBE as f64 / (PROBE as f64 * 3.0 * c.flops as f64 / rate + c.layers as f64 * layer_s);
        let wide = ForwardCost { flops: 1_100_000_000, layers: 21 };
        let narrow = ForwardCost { flops: 20_000_000, layers: 21 };
        let r = Reference::fit((ips(wide), wide), (ips(narrow), narrow), 2);
        assert!((r.flop_per_s / rate - 1.0).abs() < 1e-9 && (r.layer_s / layer_s - 1.0).abs() < 1e-9, "{r:?}");
        let deep_and_small = ForwardCost { flops: 1_000_000, layers: 60 };
        assert!((r.train_img_per_s(deep_and_small, 128) / ips(deep_and_small) - 1.0).abs() < 1e-9);
        let flops_only = Reference::fit((ips(wide), wide), (ips(narrow), ForwardCost { flops: 0, layers: 0 }), 0);
        assert!(r.train_img_per_s(deep_and_small, 128) * 5.0 < flops_only.train_img_per_s(deep_and_small, 128));
        let noisy = Reference::fit((ips(wide), wide), (ips(wide) * 0.5, narrow), 0);
        assert_eq!(noisy.layer_s, 0.0);
        assert!((noisy.flop_per_s - ips(wide) * 3.0 * wide.flops as f64).abs() < 1e-3 * noisy.flop_per_s);
    }
}
