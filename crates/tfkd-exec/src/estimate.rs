//! Cost before the run: how long a plan would take here, from throughput measured on this machine.
//!
//! Each (model, width, batch, threads, device, numerics) the plan trains is measured once — a few training
//! steps and forward passes on a probe batch of at most 32 random images, and once the augmentation
//! pipeline's cost per image — and cached in `.cache/throughput.json` under this CPU and libtorch, so a
//! later estimate costs nothing. A run's time is then its epochs × (its training images at the measured
//! training speed, plus augmentation on the same cores on the CPU, plus a teacher's forward pass per batch
//! for the methods that have one, plus validation and test at the forward speed); runs are scheduled
//! `--jobs` at a time, each student after its teacher, as the engine schedules them. Runs already finished
//! cost nothing.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Instant};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use tfkd_datasets::{SourceName, Split};
use tfkd_losses::{CrossEntropy, Loss};
use tfkd_models::{Arch, ModelConfig};
use tfkd_spec::{DataConfig, PlannedRun};
use tfkd_trainers::{
    engine::Plan,
    state::{RunDir, RunState},
    step::{Hyper, Step},
    Context,
};

/// Images per split and classes: from the loaded data, or the official sizes when the data is not here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    /// Training images.
    pub train: usize,
    /// Validation images.
    pub val: usize,
    /// Test images.
    pub test: usize,
    /// Classes.
    pub classes: usize,
}

impl Sizes {
    /// The sizes of a loaded plan.
    #[must_use]
    pub fn of(plan: &Plan) -> Sizes {
        let s = &plan.splits;
        Sizes { train: s.train.len(), val: s.val.len(), test: s.test.len(), classes: s.classes }
    }

    /// The official sizes of `data`'s source after its validation split and subsets; `None` for sources
    /// whose size is not fixed (an ImageFolder).
    #[must_use]
    pub fn official(data: &DataConfig) -> Option<Sizes> {
        let (train, test, classes) = match data.source {
            SourceName::Cifar10 | SourceName::Cifar10Jpeg => (50_000, 10_000, 10),
            SourceName::Cifar100 => (50_000, 10_000, 100),
            SourceName::TinyImagenet => (100_000, 10_000, 200),
            SourceName::FashionMnist | SourceName::Mnist => (60_000, 10_000, 10),
            SourceName::Imagefolder => return None,
        };
        let left = train - data.val_size.min(train);
        Some(Sizes {
            train: data.train_subset.map_or(left, |n| n.min(left)),
            val: data.val_size.min(train),
            test: data.test_subset.map_or(test, |n| n.min(test)),
            classes,
        })
    }
}

/// Seconds of training above which `reproduce` asks for `--yes` (on a terminal) or warns.
pub const CONFIRM_ABOVE_SECONDS: f64 = 3.0 * 3600.0;

/// Seconds a run costs besides its epochs: a worker's start, loading the cached data, checkpoints.
const PER_RUN_OVERHEAD: f64 = 2.0;

/// Measured speeds of one model setting.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Speed {
    /// Training images per second (forward, backward, SGD step).
    pub train_img_per_s: f64,
    /// Images per second of a forward pass in eval mode without gradients.
    pub eval_img_per_s: f64,
}

/// The throughput cache file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    /// Augmentation CPU-seconds per image, per machine key.
    augment_cpu_s_per_img: BTreeMap<String, f64>,
    /// Speeds per setting key.
    speeds: BTreeMap<String, Speed>,
}

fn cache_path() -> PathBuf {
    tfkd_io::paths::cache_dir().join("throughput.json")
}

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
    /// The slowest setting: its description and training speed.
    pub slowest: Option<(String, f64)>,
    /// Seconds estimated for each run left, by label (`id@seed`), one run alone.
    pub per_run: std::collections::BTreeMap<String, f64>,
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.runs == 0 {
            return write!(f, "estimated time here: nothing left to train");
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
        write!(f, "; from throughput measured on this machine")?;
        if self.measured_now > 0 {
            write!(f, " ({} setting(s) measured just now, cached for next time)", self.measured_now)?;
        }
        Ok(())
    }
}

/// `3 h 20 min`, `14 min`, `40 s`.
#[must_use]
pub fn human(seconds: f64) -> String {
    if seconds >= 86_400.0 * 2.0 {
        format!("{:.1} days", seconds / 86_400.0)
    } else if seconds >= 3600.0 {
        let m = (seconds / 60.0).round() as u64;
        format!("{} h {} min", m / 60, m % 60)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// Seconds of each planned run that is not finished (0 for finished ones), from `speed_of` its settings.
fn run_seconds(
    runs: &[PlannedRun],
    sizes: Sizes,
    p: &PlannedRun,
    speed_of: &dyn Fn(&PlannedRun) -> Speed,
    augment: f64,
) -> f64 {
    let c = &p.config;
    let (train, val, test) = (sizes.train as f64, sizes.val as f64, sizes.test as f64);
    let s = speed_of(p);
    let teacher = p
        .teacher_id
        .as_ref()
        .and_then(|t| runs.iter().find(|q| &q.run_id == t))
        .map_or(0.0, |t| train / speed_of(t).eval_img_per_s);
    let per_epoch = train / s.train_img_per_s + train * augment + teacher + (val + test) / s.eval_img_per_s;
    PER_RUN_OVERHEAD + f64::from(c.train.epochs) * per_epoch
}

/// Wall seconds of `costs` (per run, in plan order) trained `jobs` at a time, each run after its teacher
/// (`teacher[i]`: the index of run i's teacher): greedy list scheduling, as the engine starts ready runs.
#[must_use]
pub fn schedule(costs: &[f64], teacher: &[Option<usize>], jobs: usize) -> f64 {
    let mut end: Vec<Option<f64>> = vec![None; costs.len()];
    let mut slots = vec![0f64; jobs.max(1)];
    let mut left: Vec<usize> = (0..costs.len()).collect();
    while !left.is_empty() {
        // The slot free first takes the first run (in plan order) whose teacher has finished by then, or
        // else waits for the earliest teacher to finish.
        let (slot, free) = slots.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).expect("a slot");
        let ready_at = |i: usize| teacher[i].map_or(Some(0.0), |t| end[t]);
        let pick = left
            .iter()
            .position(|&i| ready_at(i).is_some_and(|r| r <= free))
            .or_else(|| {
                left.iter()
                    .enumerate()
                    .filter_map(|(k, &i)| ready_at(i).map(|r| (k, r)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(k, _)| k)
            })
            .expect("teachers come before their students");
        let i = left.remove(pick);
        let start = free.max(ready_at(i).unwrap_or(0.0));
        end[i] = Some(start + costs[i]);
        slots[slot] = start + costs[i];
    }
    end.into_iter().flatten().fold(0.0, f64::max)
}

/// Estimates what is left of `runs` (teachers first) on splits of `sizes`, with `jobs` jobs at once and
/// `threads` libtorch threads per run (0: all cores).
pub fn estimate(
    runs: &[PlannedRun],
    sizes: Sizes,
    ctx: &Context,
    jobs: usize,
    threads: usize,
) -> anyhow::Result<Estimate> {
    let path = cache_path();
    let mut cache: Cache =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let machine = machine(ctx);
    let left: Vec<usize> = (0..runs.len())
        .filter(|&i| {
            !matches!(RunDir::new(&ctx.cache_dir, &runs[i].run_id).state(), Ok(RunState::Done(_) | RunState::Failed(_)))
        })
        .collect();
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    } else {
        threads
    };
    let key = |p: &PlannedRun| {
        let c = &p.config;
        format!(
            "{machine} | {} w{} batch {} threads {threads} k{}",
            c.model, c.model_options.width, c.train.batch_size, sizes.classes
        )
    };
    if left.is_empty() {
        return Ok(Estimate {
            seconds: 0.0,
            runs: 0,
            jobs,
            measured_now: 0,
            slowest: None,
            per_run: Default::default(),
        });
    }
    let teacher: Vec<Option<usize>> =
        runs.iter().map(|p| p.teacher_id.as_ref().and_then(|t| runs.iter().position(|q| &q.run_id == t))).collect();
    let mut measured_now = 0;
    let needed: std::collections::BTreeSet<usize> =
        left.iter().flat_map(|&i| std::iter::once(i).chain(teacher[i])).collect();
    for p in needed.iter().map(|&i| &runs[i]) {
        let k = key(p);
        if let std::collections::btree_map::Entry::Vacant(slot) = cache.speeds.entry(k) {
            let c = &p.config;
            slot.insert(measure(
                c.model,
                c.model_options.width,
                c.train.batch_size,
                sizes.classes,
                threads,
                ctx.device,
            )?);
            measured_now += 1;
        }
    }
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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        tfkd_io::write_atomic(&path, serde_json::to_string_pretty(&cache)?)?;
    }
    let speed_of = |p: &PlannedRun| cache.speeds[&key(p)];
    let costs: Vec<f64> = (0..runs.len())
        .map(|i| if left.contains(&i) { run_seconds(runs, sizes, &runs[i], &speed_of, augment) } else { 0.0 })
        .collect();
    let slowest = left
        .iter()
        .map(|&i| &runs[i])
        .map(|p| (format!("{} width {}", p.config.model, p.config.model_options.width), speed_of(p).train_img_per_s))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let per_run = left.iter().map(|&i| (runs[i].config.label(), costs[i])).collect();
    Ok(Estimate { seconds: schedule(&costs, &teacher, jobs), runs: left.len(), jobs, measured_now, slowest, per_run })
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
        let probe = batch.clamp(1, 32) as i64;
        let config = ModelConfig { width, ..ModelConfig::new(classes as i64) };
        let mut step = Step::new(device, arch, config, &Hyper::official(1), false)?;
        let loss = [Loss::CrossEntropy(CrossEntropy)];
        let x = Tensor::randn([probe, 3, 32, 32], (Kind::Float, device));
        let y = Tensor::randint(classes as i64, [probe], (Kind::Int64, device));
        let sync = || {
            if let Device::Cuda(i) = device {
                tch::Cuda::synchronize(i as i64);
            }
        };
        let timed = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
            f()?; // warm-up
            sync();
            let start = Instant::now();
            let mut steps = 0;
            while steps < 3 || (start.elapsed().as_secs_f64() < 0.75 && steps < 50) {
                f()?;
                steps += 1;
            }
            sync();
            Ok((steps as i64 * probe) as f64 / start.elapsed().as_secs_f64())
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

/// Prints the estimate and, above [`CONFIRM_ABOVE_SECONDS`], asks to go on (on a terminal, unless `yes`)
/// or warns; `Ok(false)`: the user declined.
pub fn confirm(estimate: &Estimate, profile: &str, device: Device, yes: bool) -> anyhow::Result<bool> {
    eprintln!("{estimate}");
    if estimate.seconds <= CONFIRM_ABOVE_SECONDS || yes {
        return Ok(true);
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
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        // Nobody is there to answer: a days-long plan is never started unasked.
        eprintln!("{advice}.\nNo terminal to ask on, so nothing was started; pass --yes to train here anyway.");
        return Ok(false);
    }
    eprint!("{advice}.\nTrain here anyway? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_runs_jobs_at_once_and_students_after_teachers() {
        // Two teachers (10 s, 4 s), each with one student (5 s), two jobs: t1 ‖ t2 → s2 at 4, s1 at 10.
        let costs = [10.0, 4.0, 5.0, 5.0];
        let teacher = [None, None, Some(0), Some(1)];
        assert_eq!(schedule(&costs, &teacher, 2), 15.0);
        assert_eq!(schedule(&costs, &teacher, 1), 24.0);
        assert_eq!(schedule(&costs, &teacher, 8), 15.0);
        // Finished runs cost nothing.
        assert_eq!(schedule(&[0.0, 0.0, 5.0, 5.0], &teacher, 2), 5.0);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(42.0), "42 s");
        assert_eq!(human(14.0 * 60.0), "14 min");
        assert_eq!(human(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(human(5.0 * 86_400.0), "5.0 days");
    }
}
