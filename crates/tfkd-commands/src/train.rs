//! `run` and `reproduce`: a target's plan trained by the chosen executor — here (in this process, or in
//! supervised worker processes with `--jobs`), or on Slurm — and each finished run's record written under
//! `results/<name>/<profile>/runs/`.

use std::{
    path::Path,
    sync::{atomic::AtomicBool, Arc},
    time::Instant,
};

use anyhow::{bail, Context as _};
use tch::Device;
use tfkd_io::paths;
use tfkd_spec::{Experiment, PlannedRun};
use tfkd_trainers::{
    engine::{self, Options, Plan},
    Context, Event, Observer, Outcome, RunRecord,
};

use crate::options::Flags;
pub use crate::options::{ExecutorName, RunOptions};
use crate::{
    context::context,
    estimate,
    executor::Pass,
    executors,
    status::sweep_temporaries,
    target::{results_dir, say_substitution},
    worker,
};

/// What `run`/`reproduce` leaves for the report step: the plan (data and runs).
pub struct Ran {
    /// The plan.
    pub plan: Plan,
}

/// A run or reproduce stopped by a signal: the message says what was kept (exit status
/// [`worker::INTERRUPTED_EXIT`]).
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// Trains a target's runs with the chosen executor: `Some` once every run has finished or failed and the
/// records are written; `None` while runs are still queued or running elsewhere (and after a dry run).
pub fn train(
    exp: &Experiment,
    opts: &RunOptions,
    interrupt: Arc<AtomicBool>,
    observer: &mut dyn Observer,
) -> anyhow::Result<Option<Ran>> {
    let executor = executors::implementation(opts.executor);
    // An executor's own flags, refused with any other (a shell run would otherwise ignore a --dry-run).
    if let Some(flag) = opts.flags.given().into_iter().find(|f| !executor.flags().contains(f)) {
        bail!("{} goes with {}", flag.name(), executors::taking(flag));
    }
    if executor.advance(exp, opts, &interrupt, observer)? == Pass::Waiting {
        return Ok(None);
    }
    // Every run has ended elsewhere, or trains here now: the records are collected (and what is left trained)
    // in this process.
    let here = RunOptions { executor: ExecutorName::Local, flags: Flags::default(), ..opts.clone() };
    run(exp, &here, interrupt, observer).map(Some)
}

/// Trains every run of the experiment here and writes each finished run's record under
/// `results/<name>/<profile>/runs/`, also when interrupted (then it says what was kept and fails).
pub fn run(
    exp: &Experiment,
    opts: &RunOptions,
    interrupt: Arc<AtomicBool>,
    observer: &mut dyn Observer,
) -> anyhow::Result<Ran> {
    let ctx = context(opts.device, interrupt)?;
    let dir = results_dir(exp).runs();
    check_writable(&dir)?;
    for (path, size) in sweep_temporaries() {
        let removed =
            format!("removed {} ({size} bytes), a temporary file a killed process left behind", path.display());
        observer.event(&Event::note(removed));
    }
    say_substitution(exp, observer);
    let plan = engine::plan(exp, &paths::data_dir(), &ctx.cache_dir)?;
    for note in batch_notes(exp, plan.splits.train.len()) {
        observer.event(&Event::note(note));
    }
    let sizing = Sizing::of(exp, opts, ctx.device);
    let mut kept = estimate_first(exp, &plan, &ctx, sizing, (opts.yes, observer))?;
    let started = Instant::now();
    let outcomes = execute(exp, opts, &plan, &ctx, sizing, observer)?;
    for record in outcomes.iter().filter_map(Outcome::record) {
        write_record(&dir, record)?;
    }
    let tally = Tally::of(&outcomes);
    if let Some(k) = kept.as_mut().filter(|_| tally.trained > 0) {
        k.measured_s = Some(started.elapsed().as_secs_f64());
        k.write(&results_dir(exp))?;
    }
    tally.conclude(&exp.name, &dir, observer)?;
    Ok(Ran { plan })
}

/// Jobs trained at once and libtorch threads per worker (`None`: each run's own `train.threads`).
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// Jobs at once.
    pub jobs: usize,
    /// Threads per worker when the runs ask for all cores (`train.threads: 0`).
    pub threads: Option<usize>,
    /// Threads one run uses (for the estimate).
    pub per_run: usize,
}

impl Sizing {
    /// `--jobs`, or on the CPU cores ÷ `train.threads` (1 when that is 0, i.e. all cores); on a GPU, 1.
    #[must_use]
    pub fn of(exp: &Experiment, opts: &RunOptions, device: Device) -> Sizing {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let asked = exp.runs.iter().map(|r| r.train.threads).max().unwrap_or(0);
        let jobs = match opts.jobs {
            Some(j) => usize::try_from(j).unwrap_or(usize::MAX),
            None if device.is_cuda() || asked == 0 => 1,
            None => (cores / asked).max(1),
        };
        let threads = (asked == 0).then(|| (cores / jobs).max(1));
        Sizing { jobs, threads, per_run: threads.unwrap_or(asked) }
    }
}

/// Estimates the plan's time here, asks before a long one, and keeps the estimate beside the records so the
/// report can set it against the measured time.
fn estimate_first(
    exp: &Experiment,
    plan: &Plan,
    ctx: &Context,
    sizing: Sizing,
    (yes, obs): (bool, &mut dyn Observer),
) -> anyhow::Result<Option<tfkd_report::timing::Estimate>> {
    let estimate = estimate::estimate(
        &plan.runs,
        estimate::Sizes::of(plan),
        ctx,
        (sizing.jobs, sizing.per_run),
        estimate::Unmeasured::Measure,
    )?;
    if !estimate::confirm(&estimate, &exp.profile, ctx.device, yes, obs) {
        bail!("not started: {} would take about {} here", exp.name, estimate::human(estimate.seconds));
    }
    let kept = (estimate.runs > 0).then(|| tfkd_report::timing::Estimate {
        estimated_s: estimate.seconds,
        jobs: sizing.jobs,
        per_run: estimate.per_run.clone(),
        measured_s: None,
    });
    if let Some(k) = &kept {
        k.write(&results_dir(exp))?;
    }
    Ok(kept)
}

/// The plan through the engine: in this process, or with `jobs` > 1 in supervised worker processes.
fn execute(
    exp: &Experiment,
    opts: &RunOptions,
    plan: &Plan,
    ctx: &Context,
    sizing: Sizing,
    observer: &mut dyn Observer,
) -> anyhow::Result<Vec<Outcome>> {
    let array = tfkd_trainers::schedule::array_limit(&plan.runs, ctx.device.is_cuda());
    let spawn = worker::Spawn { exp, sets: &opts.sets, device: opts.device, threads: sizing.threads, ctx };
    let launch = |job: &[&PlannedRun], report: &mut dyn FnMut(Event)| spawn.train(job, report);
    if sizing.jobs > 1 {
        observer.event(&Event::note(format!("training up to {} jobs at once, each in its own process", sizing.jobs)));
    }
    if array > 1 {
        observer.event(&Event::note(format!("runs that share a model train as fused arrays of up to {array}")));
    }
    let engine_opts =
        Options { jobs: sizing.jobs, array, launch: (sizing.jobs > 1).then_some(&launch as &engine::Launch<'_>) };
    let outcomes = engine::execute(plan, ctx, observer, engine_opts);
    observer.finish();
    Ok(outcomes?)
}

/// A note per batch size larger than the `train_images` the profile trains on: valid (each epoch is one partial
/// batch, as PyTorch's DataLoader gives it; tiny fixtures rely on it) but rarely meant, so `check` and `run` say
/// so before training.
#[must_use]
pub fn batch_notes(exp: &Experiment, train_images: usize) -> Vec<String> {
    let mut sizes: Vec<usize> = exp.runs.iter().map(|r| r.train.batch_size).filter(|&b| b > train_images).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|b| {
            format!(
                "note: batch size {b} is larger than the {train_images} training images: each epoch is one partial \
                 batch (lower train.batch_size or train on more images if that is not what you mean)"
            )
        })
        .collect()
}

/// The outcomes counted, and the lines that name the failed, interrupted and taken-over runs.
struct Tally {
    trained: usize,
    cached: usize,
    failed: Vec<String>,
    interrupted: Vec<String>,
    taken_over: Vec<String>,
}

impl Tally {
    fn of(outcomes: &[Outcome]) -> Tally {
        let mut t =
            Tally { trained: 0, cached: 0, failed: Vec::new(), interrupted: Vec::new(), taken_over: Vec::new() };
        for o in outcomes {
            match o {
                Outcome::Trained(_) => t.trained += 1,
                Outcome::Cached { .. } => t.cached += 1,
                Outcome::Failed { label, run_id, error } => t.failed.push(format!("  {label} [{run_id}]: {error}")),
                Outcome::Interrupted { label, at, taken_over: true, .. } => {
                    t.taken_over.push(format!("  {label}: {at}"))
                }
                Outcome::Interrupted { label, at, .. } => t.interrupted.push(format!("  {label}: {at}")),
            }
        }
        t
    }

    /// Says what happened; an error when a run was interrupted or taken over ([`Interrupted`]) or failed. Every
    /// run counted as failed, interrupted or taken over is named, whichever the error is.
    fn conclude(&self, name: &str, dir: &Path, obs: &mut dyn Observer) -> anyhow::Result<()> {
        let Tally { trained, cached, failed, interrupted, taken_over } = self;
        let over = if taken_over.is_empty() { String::new() } else { format!(", {} taken over", taken_over.len()) };
        obs.event(&Event::note(format!(
            "{name}: {trained} trained, {cached} cached, {} failed, {} interrupted{over}; records in {}",
            failed.len(),
            interrupted.len(),
            dir.display()
        )));
        let mut also = String::new();
        if !failed.is_empty() {
            also += &format!("\n{} run(s) failed:\n{}", failed.len(), summarise(failed));
        }
        if !taken_over.is_empty() {
            also += &format!(
                "\n{} run(s) were taken over by another process, which trains and records them (nothing of them is \
                 left to resume here):\n{}",
                taken_over.len(),
                summarise(taken_over)
            );
        }
        if !interrupted.is_empty() {
            bail!(Interrupted(format!(
                "stopped: {} finished run(s) are recorded in {}; {} run(s) kept their last checkpoint and the same \
                 command resumes them:\n{}{also}",
                trained + cached,
                dir.display(),
                interrupted.len(),
                summarise(interrupted)
            )));
        }
        if !taken_over.is_empty() {
            bail!(Interrupted(format!(
                "stopped: {} finished run(s) are recorded in {}{also}",
                trained + cached,
                dir.display()
            )));
        }
        if !failed.is_empty() {
            bail!("{} run(s) failed:\n{}", failed.len(), summarise(failed));
        }
        Ok(())
    }
}

/// Lines of a listing, the first 20 and a count of the rest: a plan of thousands of runs is not listed one
/// per line (`tfkd status TARGET` lists them all).
fn summarise(lines: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out = lines.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("\n");
    if lines.len() > SHOWN {
        out += &format!("\n  … and {} more (`tfkd status` lists every run)", lines.len() - SHOWN);
    }
    out
}

fn write_record(dir: &Path, record: &RunRecord) -> anyhow::Result<()> {
    let path = dir.join(format!("{}.json", record.label.replace('@', "-s")));
    tfkd_io::write_atomic(&path, serde_json::to_string_pretty(record)?)?;
    Ok(())
}

/// Checks before any work that the results folder can be written, so a read-only folder is found now.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = tfkd_io::temp::path_for(&dir.join("write-check"));
    std::fs::write(&probe, b"").with_context(|| format!("{} cannot be written", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Tally;

    fn tally(failed: &[&str], interrupted: &[&str], taken_over: &[&str]) -> Tally {
        let lines = |v: &[&str]| v.iter().map(|l| format!("  {l}")).collect();
        Tally {
            trained: 1,
            cached: 0,
            failed: lines(failed),
            interrupted: lines(interrupted),
            taken_over: lines(taken_over),
        }
    }

    fn said(t: &Tally) -> String {
        let e =
            t.conclude("smoke", std::path::Path::new("results/smoke/smoke"), &mut tfkd_trainers::Silent).unwrap_err();
        format!("{e}")
    }

    /// A run that failed while others were interrupted (a SIGTERM while a worker starts) is named, not only
    /// counted.
    #[test]
    fn failed_runs_are_named_beside_interrupted_ones() {
        let s = said(&tally(&["base-cnn5@230 [ab12]: worker exited"], &["base-resnet8@230: at epoch 2"], &[]));
        assert!(s.contains("kept their last checkpoint") && s.contains("base-resnet8@230: at epoch 2"), "{s}");
        assert!(s.contains("1 run(s) failed:") && s.contains("base-cnn5@230 [ab12]: worker exited"), "{s}");
    }

    /// A run another process took over is not said to be resumable here.
    #[test]
    fn taken_over_runs_are_not_called_resumable() {
        let s = said(&tally(&[], &[], &["base-cnn5@230: taken over by host:123"]));
        assert!(!s.contains("kept their last checkpoint") && !s.contains("resumes them"), "{s}");
        assert!(
            s.contains("taken over by another process") && s.contains("base-cnn5@230: taken over by host:123"),
            "{s}"
        );
    }
}
