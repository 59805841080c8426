//! Executing an experiment: load data once, expand the run graph, skip finished runs, train the rest
//! teachers first — one after another in this process, or several at once through a [`Parallel`] trainer
//! (`tfkd --jobs`) — and collect every run's record.

use std::{path::Path, sync::mpsc};

use tfkd_spec::{Experiment, PlannedRun};

use crate::{
    error::{Result, TrainError},
    events::{Event, Observer},
    prepare,
    run::{self, Context, RunRecord},
    state::RunDir,
};

/// The outcome of one planned run.
#[derive(Debug)]
pub enum Outcome {
    /// Trained now.
    Trained(Box<RunRecord>),
    /// Finished in an earlier invocation (possibly by another target): not trained again.
    Cached(Box<RunRecord>),
    /// Failed now or earlier; the message says why.
    Failed {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Why.
        error: String,
    },
}

impl Outcome {
    /// The record, if the run finished.
    #[must_use]
    pub fn record(&self) -> Option<&RunRecord> {
        match self {
            Outcome::Trained(r) | Outcome::Cached(r) => Some(r),
            Outcome::Failed { .. } => None,
        }
    }
}

/// Trains one run whose teacher, if any, has finished, reporting its events through the callback.
pub type TrainFn<'a> = dyn Fn(&PlannedRun, &mut dyn FnMut(Event)) -> Result<RunRecord> + Sync + 'a;

/// Trains runs concurrently: `jobs` at a time, each by `train` on its own thread (a child process per
/// run in `tfkd`, since libtorch's random generator is global to a process). `train` gets the run and a
/// callback for its events, and returns the record the run wrote.
pub struct Parallel<'a> {
    /// Runs trained at once (at least 1).
    pub jobs: usize,
    /// Trains one run whose teacher, if any, has finished.
    pub train: &'a TrainFn<'a>,
}

impl std::fmt::Debug for Parallel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parallel").field("jobs", &self.jobs).finish_non_exhaustive()
    }
}

/// Loads the data an experiment uses and plans its runs (the data's content hash is part of every run id).
pub fn plan(exp: &Experiment, data_dir: &Path, cache_dir: &Path) -> Result<(prepare::Splits, String, Vec<PlannedRun>)> {
    let data = &exp.runs.first().ok_or_else(|| TrainError::Config("experiment has no runs".into()))?.data;
    let source = prepare::source(data, data_dir);
    let ds = source.load(cache_dir)?;
    let splits = prepare::splits(&ds, data)?;
    let planned = tfkd_spec::plan(exp, &ds.content_hash);
    for p in &planned {
        prepare::model(&p.config, splits.classes, splits.train.chw[0])?;
    }
    Ok((splits, ds.content_hash, planned))
}

/// Trains one planned run in this process, reading its teacher's record from the cache.
/// This is what a worker process of a [`Parallel`] trainer runs.
pub fn train_one(
    exp: &Experiment,
    data_dir: &Path,
    run_id: &str,
    ctx: &Context,
    obs: &mut dyn Observer,
) -> Result<RunRecord> {
    let (splits, data_hash, planned) = plan(exp, data_dir, &ctx.cache_dir)?;
    let p = planned
        .iter()
        .find(|p| p.run_id == run_id)
        .ok_or_else(|| TrainError::Config(format!("{}: no planned run has id {run_id}", exp.name)))?;
    let teacher = match &p.teacher_id {
        None => None,
        Some(tid) => {
            let dir = RunDir::new(&ctx.cache_dir, tid);
            Some(
                dir.read_json::<RunRecord>(&dir.done())?
                    .ok_or_else(|| TrainError::Config(format!("teacher run {tid} has not finished")))?,
            )
        }
    };
    train_with(p, teacher.as_ref(), &splits, &data_hash, ctx, obs)
}

/// Trains `p` in this process against the weights of its finished teacher run, if it has one.
fn train_with(
    p: &PlannedRun,
    teacher: Option<&RunRecord>,
    splits: &prepare::Splits,
    data_hash: &str,
    ctx: &Context,
    obs: &mut dyn Observer,
) -> Result<RunRecord> {
    match teacher {
        None => run::train(p, splits, data_hash, None, ctx, obs),
        Some(t) => run::train(p, splits, data_hash, Some(&run::teacher_weights(p, t, &ctx.cache_dir)?), ctx, obs),
    }
}

/// What the engine knows about a planned run before training anything.
enum Start {
    Done(Outcome),
    Train,
}

/// A finished run with the snapshots its dependents need is cached; one that failed before is reported.
fn classify(p: &PlannedRun, ctx: &Context) -> Result<Start> {
    let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
    if let Some(record) = dir.read_json::<RunRecord>(&dir.done())? {
        let has_snapshots = (p.keep_all_epochs && (1..=record.summary.epochs).all(|e| dir.snapshot(e).is_file()))
            || (!p.keep_all_epochs && p.keep_epochs.iter().all(|&e| dir.snapshot(e).is_file()));
        if has_snapshots {
            return Ok(Start::Done(Outcome::Cached(Box::new(record))));
        }
        // Retrain (deterministically) to produce the snapshots a new dependent needs.
        std::fs::remove_dir_all(dir.path()).map_err(crate::error::io(dir.path()))?;
    }
    if let Some(failure) = dir.read_json::<serde_json::Value>(&dir.failed())? {
        let error = format!(
            "failed earlier ({}); `tfkd clean --failed` removes it so it can be retried",
            failure["error"].as_str().unwrap_or("?")
        );
        return Ok(Start::Done(failed(p, error)));
    }
    Ok(Start::Train)
}

/// Whether `p` can start: `Some(Ok(teacher))` when its teacher (if any) finished, `Some(Err)` when the
/// teacher failed, `None` while the teacher is still pending.
fn readiness<'o>(
    p: &PlannedRun,
    planned: &[PlannedRun],
    outcomes: &'o [Option<Outcome>],
) -> Option<Result<Option<&'o RunRecord>, String>> {
    let Some(tid) = &p.teacher_id else { return Some(Ok(None)) };
    let i = planned.iter().position(|q| &q.run_id == tid)?;
    match outcomes[i].as_ref()? {
        Outcome::Failed { .. } => Some(Err("its teacher run did not finish".into())),
        done => Some(Ok(done.record())),
    }
}

fn failed(p: &PlannedRun, error: String) -> Outcome {
    Outcome::Failed { label: p.config.label(), run_id: p.run_id.clone(), error }
}

fn finish(p: &PlannedRun, result: Result<RunRecord>) -> Outcome {
    match result {
        Ok(record) => Outcome::Trained(Box::new(record)),
        Err(e) => failed(p, e.to_string()),
    }
}

/// Runs every planned run, teachers before their students. A run whose `done.json` exists (with the
/// snapshots its dependents need) is not trained again; a run that failed before is reported, not
/// retried (`tfkd clean --failed` retries it). Without `parallel`, runs train one after another in this
/// process; with it, up to `jobs` train at once. Outcomes come back in plan order either way.
pub fn execute(
    exp: &Experiment,
    data_dir: &Path,
    ctx: &Context,
    obs: &mut dyn Observer,
    parallel: Option<&Parallel<'_>>,
) -> Result<Vec<Outcome>> {
    let (splits, data_hash, planned) = plan(exp, data_dir, &ctx.cache_dir)?;
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(planned.len());
    for p in &planned {
        outcomes.push(match classify(p, ctx)? {
            Start::Done(outcome) => {
                if let Outcome::Cached(record) = &outcome {
                    obs.event(&Event::RunCached {
                        label: record.label.clone(),
                        run_id: p.run_id.clone(),
                        summary: record.summary.clone(),
                    });
                }
                Some(outcome)
            }
            Start::Train => None,
        });
    }
    match parallel {
        None => {
            // Plan order puts teachers first, so every teacher has an outcome when its student comes up.
            for (i, p) in planned.iter().enumerate() {
                if outcomes[i].is_some() {
                    continue;
                }
                let outcome = match readiness(p, &planned, &outcomes) {
                    Some(Ok(teacher)) => finish(p, train_with(p, teacher, &splits, &data_hash, ctx, obs)),
                    Some(Err(error)) => failed(p, error),
                    None => failed(p, "its teacher is planned after it".into()),
                };
                outcomes[i] = Some(outcome);
            }
        }
        Some(par) => run_parallel(&planned, &mut outcomes, par, obs),
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every run has an outcome")).collect())
}

/// A message from a worker thread.
enum Message {
    Event(Event),
    Done(usize, Box<Result<RunRecord>>),
}

fn run_parallel(planned: &[PlannedRun], outcomes: &mut [Option<Outcome>], par: &Parallel<'_>, obs: &mut dyn Observer) {
    let (tx, rx) = mpsc::channel::<Message>();
    let mut running = vec![false; planned.len()];
    std::thread::scope(|scope| {
        let mut in_flight = 0;
        loop {
            // Start every run whose teacher is done, up to `jobs` at once; fail those whose teacher failed.
            for (i, p) in planned.iter().enumerate() {
                if outcomes[i].is_some() || running[i] || in_flight >= par.jobs.max(1) {
                    continue;
                }
                match readiness(p, planned, outcomes) {
                    None => {}
                    Some(Err(error)) => outcomes[i] = Some(failed(p, error)),
                    Some(Ok(_)) => {
                        running[i] = true;
                        in_flight += 1;
                        let tx = tx.clone();
                        let train = par.train;
                        scope.spawn(move || {
                            let events = tx.clone();
                            let result = train(p, &mut |e| {
                                let _ = events.send(Message::Event(e));
                            });
                            let _ = tx.send(Message::Done(i, Box::new(result)));
                        });
                    }
                }
            }
            if in_flight == 0 {
                break; // nothing running and nothing could start: every run has an outcome
            }
            match rx.recv().expect("a worker holds a sender") {
                Message::Event(e) => obs.event(&e),
                Message::Done(i, result) => {
                    in_flight -= 1;
                    running[i] = false;
                    outcomes[i] = Some(finish(&planned[i], *result));
                }
            }
        }
    });
}
