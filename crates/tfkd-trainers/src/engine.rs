//! Executing an experiment: load data once, expand the run graph, take stock of the cache (finished,
//! failed, resumable, damaged — and repair what is damaged), then train what is left, teachers first.
//!
//! Runs that are ready (their teacher finished) and share an [`ArrayKey`] are grouped into *jobs* of up to
//! `array` members, each trained as one fused array ([`crate::array`]); up to `jobs` jobs train at once,
//! in this process or in worker processes (a [`Launch`] function, `tfkd train-one` in the CLI). Whoever
//! trains a job first takes each run's lease ([`tfkd_io::Lease`]): a run another process is training is
//! waited for and its result reused, so concurrent invocations — on one machine or a cluster's shared
//! filesystem — never train a run twice.

use std::{sync::mpsc, time::Duration};

use tfkd_io::{Acquire, Lease};
use tfkd_spec::PlannedRun;

pub use crate::prepare::{plan, Plan};
use crate::{
    array::{self, ArrayKey, Member},
    error::{Result, TrainError},
    events::{Event, Observer},
    run::{Context, RunRecord},
    state::{RunDir, RunState},
    teacher,
};

/// The outcome of one planned run.
#[derive(Debug)]
pub enum Outcome {
    /// Trained now.
    Trained(Box<RunRecord>),
    /// Finished before, in an earlier invocation or by another process meanwhile (`by`): not trained again.
    Cached {
        /// Its record.
        record: Box<RunRecord>,
        /// Who finished it, when another process did while this one waited, or which entry of this plan it is
        /// the same run as (identical settings under another id).
        by: Option<String>,
    },
    /// Failed now or earlier; the message says why.
    Failed {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Why.
        error: String,
    },
    /// Stopped on request (its checkpoint is kept and the same command resumes it), or taken over by another
    /// process after this one stalled (that process trains and records it).
    Interrupted {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Where it stopped.
        at: String,
        /// Another process holds the run now: nothing of it is left to this one.
        taken_over: bool,
    },
}

impl Outcome {
    /// The record, if the run finished.
    #[must_use]
    pub fn record(&self) -> Option<&RunRecord> {
        match self {
            Outcome::Trained(r) | Outcome::Cached { record: r, .. } => Some(r),
            Outcome::Failed { .. } | Outcome::Interrupted { .. } => None,
        }
    }

    fn failed(p: &PlannedRun, error: String) -> Outcome {
        Outcome::Failed { label: p.config.label(), run_id: p.run_id.clone(), error }
    }
}

/// Seconds without a heartbeat after which a run's lease is stale (`TFKD_LEASE_SECONDS`, default 120).
fn lease_timeout() -> Duration {
    Duration::from_secs(std::env::var("TFKD_LEASE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120))
}

/// What the cache says about a planned run before anything trains.
enum Start {
    Done(Outcome),
    /// To train, from this (epoch, batch).
    Train((u32, usize)),
}

/// Takes stock of a run folder, repairing what is damaged: a run whose record is damaged resumes from its
/// final checkpoint; a run whose weights no longer match their checksums, or that lacks a snapshot a new
/// dependent needs, is retrained from scratch; a damaged checkpoint falls back to the one before it.
fn classify(p: &PlannedRun, ctx: &Context, obs: &mut dyn Observer) -> Result<Start> {
    let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
    let repaired = |obs: &mut dyn Observer, damaged: String, action: &str| {
        obs.event(&Event::RunRepaired {
            label: p.config.label(),
            run_id: p.run_id.clone(),
            damaged,
            action: action.into(),
        });
    };
    match dir.state()? {
        RunState::Done(record) => {
            let damaged = dir.verify(&record);
            let missing: Vec<u32> = if p.keep_all_epochs {
                (1..=record.summary.epochs).filter(|&e| !dir.snapshot(e).is_file()).collect()
            } else {
                p.keep_epochs.iter().copied().filter(|&e| !dir.snapshot(e).is_file()).collect()
            };
            if damaged.is_empty() && missing.is_empty() {
                return Ok(Start::Done(Outcome::Cached { record: Box::new(as_planned(*record, p)), by: None }));
            }
            match damaged.first() {
                Some(d) => repaired(obs, d.to_string(), "retraining it from scratch"),
                None => repaired(
                    obs,
                    format!("no snapshot of epoch(s) {missing:?}"),
                    "retraining it to keep the snapshots a student needs",
                ),
            }
            dir.clear()?;
            Ok(Start::Train((0, 0)))
        }
        RunState::Failed(error) => Ok(Start::Done(Outcome::failed(
            p,
            format!("failed earlier ({error}); `tfkd clean --failed` removes it so it can be retried"),
        ))),
        RunState::Damaged(damages) => {
            for d in &damages {
                if d.file == dir.done() || d.file == dir.failed() {
                    std::fs::remove_file(&d.file).map_err(|e| tfkd_io::IoError {
                        op: "removing",
                        path: d.file.clone(),
                        source: e,
                    })?;
                }
            }
            let position = dir.state()?.resume_position();
            let action = match position {
                Some((e, b)) => format!("resuming it from its last good checkpoint (epoch {e}, batch {b})"),
                None => "retraining it from scratch".into(),
            };
            for d in &damages {
                repaired(obs, d.to_string(), &action);
            }
            if position.is_none() {
                dir.clear()?;
            }
            Ok(Start::Train(position.unwrap_or((0, 0))))
        }
        RunState::Partial { progress, damaged } => {
            for d in damaged {
                repaired(
                    obs,
                    d.to_string(),
                    &format!("resuming from the checkpoint before it (epoch {})", progress.epochs_done),
                );
            }
            Ok(Start::Train(progress.position()))
        }
        RunState::Pending => Ok(Start::Train((0, 0))),
    }
}

/// Takes stock of a run before the plan starts. Repairs remove files, so they happen only under the run's
/// lease: when another process holds it (it is training or cleaning the run now), the folder is left as it
/// is and the run is planned from its last checkpoint as read; its claim takes stock again, repairs
/// included, once it holds the lease.
fn take_stock(p: &PlannedRun, ctx: &Context, obs: &mut dyn Observer) -> Result<Start> {
    let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
    if !dir.path().is_dir() {
        return classify(p, ctx, obs);
    }
    match try_lease(&dir)? {
        Some(_lease) => classify(p, ctx, obs),
        None => Ok(Start::Train(dir.state().ok().and_then(|s| s.resume_position()).unwrap_or((0, 0)))),
    }
}

/// An observer that hands every event to a function (a worker's pipe, a thread's channel).
pub struct Forward<'f>(pub &'f mut dyn FnMut(Event));

impl Observer for Forward<'_> {
    fn event(&mut self, event: &Event) {
        (self.0)(event.clone());
    }
}

/// Trains one job — runs that share an [`ArrayKey`] — in this process: takes each run's lease (waiting for
/// another process that holds it, then reusing its result), picks the teachers' weights, and trains what is
/// left as one array. Emits `RunFailed`/`RunInterrupted` events for runs that end so, besides returning them.
pub fn train_job(plan: &Plan, job: &[&PlannedRun], ctx: &Context, obs: &mut dyn Observer) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = job.iter().map(|_| None).collect();
    let mut members: Vec<(usize, Member<'_>)> = Vec::new();
    // Leases are taken in run-id order, the same in every process, so two invocations whose jobs share
    // runs in another order never wait for each other.
    let mut order: Vec<usize> = (0..job.len()).collect();
    order.sort_by(|&a, &b| job[a].run_id.cmp(&job[b].run_id));
    for i in order {
        let p = job[i];
        match claim(p, ctx, obs) {
            Ok(Claim::Train(member)) => members.push((i, *member)),
            Ok(Claim::Done(outcome)) => outcomes[i] = Some(outcome),
            Err(e) => outcomes[i] = Some(Outcome::failed(p, tfkd_io::chain(&e))),
        }
    }
    members.sort_by_key(|(i, _)| *i);
    // Members resuming from different points (another process trained some meanwhile) train as separate arrays.
    while !members.is_empty() {
        let key = ArrayKey::of(members[0].1.run, position(&members[0].1, ctx));
        let (now, later): (Vec<_>, Vec<_>) =
            members.into_iter().partition(|(_, m)| ArrayKey::of(m.run, position(m, ctx)) == key);
        members = later;
        let (idx, group): (Vec<usize>, Vec<Member<'_>>) = now.into_iter().unzip();
        let runs: Vec<&PlannedRun> = group.iter().map(|m| m.run).collect();
        let mut results = array::train(group, &plan.splits, &plan.data_hash, ctx, obs);
        if runs.len() > 1 && results.iter().all(|r| r.as_ref().is_err_and(array_failed)) {
            results = alone(&runs, &results, plan, ctx, obs);
        }
        for ((i, p), result) in idx.into_iter().zip(runs).zip(results) {
            outcomes[i] = Some(match result {
                Ok(record) => Outcome::Trained(Box::new(record)),
                Err(TrainError::Interrupted { at }) => {
                    Outcome::Interrupted { label: p.config.label(), run_id: p.run_id.clone(), at, taken_over: false }
                }
                // Not a failure of the run: another process trains it; this one only says so.
                Err(e @ TrainError::LeaseLost { .. }) => Outcome::Interrupted {
                    label: p.config.label(),
                    run_id: p.run_id.clone(),
                    at: e.to_string(),
                    taken_over: true,
                },
                Err(e) => Outcome::failed(p, tfkd_io::chain(&e)),
            });
        }
    }
    let outcomes: Vec<Outcome> =
        outcomes.into_iter().map(|o| o.expect("every run of the job has an outcome")).collect();
    for o in &outcomes {
        match o {
            Outcome::Failed { label, run_id, error } => {
                obs.event(&Event::RunFailed { label: label.clone(), run_id: run_id.clone(), error: error.clone() });
            }
            Outcome::Interrupted { label, run_id, at, taken_over } => obs.event(&Event::RunInterrupted {
                label: label.clone(),
                run_id: run_id.clone(),
                at: at.clone(),
                taken_over: *taken_over,
            }),
            Outcome::Trained(_) | Outcome::Cached { .. } => {}
        }
    }
    outcomes
}

/// Whether an error ended a whole fused array rather than one member's run: not a stop on request, a
/// takeover or a member's own diverging loss.
fn array_failed(e: &TrainError) -> bool {
    !matches!(e, TrainError::Interrupted { .. } | TrainError::LeaseLost { .. } | TrainError::NonFinite { .. })
}

/// Fail soft: the members of a fused array that failed as a whole (it could not be built or run on this
/// device: a kernel, memory or grouped-convolution limit) train one by one, and their records say why.
fn alone(
    runs: &[&PlannedRun],
    failed: &[Result<RunRecord>],
    plan: &Plan,
    ctx: &Context,
    obs: &mut dyn Observer,
) -> Vec<Result<RunRecord>> {
    let why = failed.iter().find_map(|r| r.as_ref().err().map(|e| tfkd_io::chain(e))).unwrap_or_default();
    let note = format!("a fused array of {} failed ({why}); trained alone", runs.len());
    runs.iter()
        .map(|p| {
            obs.event(&Event::RunRepaired {
                label: p.config.label(),
                run_id: p.run_id.clone(),
                damaged: format!("its fused array of {} failed: {why}", runs.len()),
                action: "training it alone".into(),
            });
            match claim(p, ctx, obs)? {
                Claim::Train(member) => {
                    let member = Member { fallback: Some(note.clone()), ..*member };
                    array::train(vec![member], &plan.splits, &plan.data_hash, ctx, obs).pop().expect("one member")
                }
                Claim::Done(Outcome::Trained(r) | Outcome::Cached { record: r, .. }) => Ok(*r),
                Claim::Done(Outcome::Interrupted { at, .. }) => Err(TrainError::Interrupted { at }),
                Claim::Done(Outcome::Failed { error, .. }) => Err(TrainError::Worker(error)),
            }
        })
        .collect()
}

fn position(m: &Member<'_>, ctx: &Context) -> (u32, usize) {
    RunDir::new(&ctx.cache_dir, &m.run.run_id).state().ok().and_then(|s| s.resume_position()).unwrap_or((0, 0))
}

enum Claim<'a> {
    Train(Box<Member<'a>>),
    Done(Outcome),
}

/// Takes `p`'s lease (waiting while another live process holds it) and says what is left to do.
fn claim<'a>(p: &'a PlannedRun, ctx: &Context, obs: &mut dyn Observer) -> Result<Claim<'a>> {
    let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
    dir.create()?;
    let what = format!("tfkd training {}", p.config.label());
    let mut holder = None;
    let lease = Lease::acquire_waiting(
        &dir.lock(),
        &what,
        lease_timeout(),
        Duration::from_millis(500),
        |owner| {
            holder = Some(owner.to_string());
            obs.event(&Event::RunWaiting {
                label: p.config.label(),
                run_id: p.run_id.clone(),
                holder: owner.to_string(),
            });
        },
        || ctx.interrupt.load(std::sync::atomic::Ordering::SeqCst),
    )?;
    let Some(lease) = lease else {
        return Ok(Claim::Done(Outcome::Interrupted {
            label: p.config.label(),
            run_id: p.run_id.clone(),
            at: "while waiting for its lease".into(),
            taken_over: false,
        }));
    };
    match classify(p, ctx, obs)? {
        Start::Done(Outcome::Cached { record, .. }) => {
            let by = holder.map(|h| format!("trained meanwhile by {h}"));
            obs.event(&Event::RunCached {
                label: record.label.clone(),
                run_id: p.run_id.clone(),
                summary: record.summary.clone(),
                by: by.clone(),
            });
            Ok(Claim::Done(Outcome::Cached { record, by }))
        }
        Start::Done(outcome) => Ok(Claim::Done(outcome)),
        Start::Train(_) => {
            let teacher = match (&p.teacher_id, &p.config.teacher_weights) {
                (None, None) => None,
                (None, Some(w)) => Some(teacher::external(w)?),
                (Some(tid), _) => {
                    let tdir = RunDir::new(&ctx.cache_dir, tid);
                    let record: RunRecord =
                        tdir.read_json(&tdir.done())?.ok_or_else(|| TrainError::TeacherNotDone(tid.clone()))?;
                    Some(teacher::choose(p, &record, &ctx.cache_dir)?)
                }
            };
            Ok(Claim::Train(Box::new(Member { run: p, teacher, lease, fallback: None })))
        }
    }
}

/// Trains one job in a worker process: the runs, and a function that receives the worker's events.
pub type Launch<'a> = dyn Fn(&[&PlannedRun], &mut dyn FnMut(Event)) -> Vec<Outcome> + Sync + 'a;

/// How an experiment's jobs run.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Jobs at once, when they run in worker processes ([`Options::launch`]). Jobs trained in this process run
    /// one at a time whatever this says: libtorch's random generator is global to a process, so two jobs
    /// drawing from it at once would not draw what they draw alone, and their numbers would depend on timing.
    pub jobs: usize,
    /// Members per array at most (1: every run alone).
    pub array: usize,
    /// Runs each job in a worker process; `None`: in this process.
    pub launch: Option<&'a Launch<'a>>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("jobs", &self.jobs)
            .field("array", &self.array)
            .field("workers", &self.launch.is_some())
            .finish()
    }
}

/// Whether `p` can start: `Some(Ok(()))` when its teacher (if any) finished, `Some(Err)` when the teacher
/// failed or was interrupted, `None` while the teacher is still pending.
fn readiness(p: &PlannedRun, teacher: Option<usize>, outcomes: &[Option<Outcome>]) -> Option<Result<(), String>> {
    if p.teacher_id.is_none() {
        return Some(Ok(()));
    }
    let i = teacher?;
    match outcomes[i].as_ref()? {
        Outcome::Failed { .. } => Some(Err("its teacher run did not finish".into())),
        Outcome::Interrupted { at, .. } => Some(Err(format!("its teacher run was interrupted {at}"))),
        _ => Some(Ok(())),
    }
}

/// The jobs to start now: ready runs grouped by [`crate::schedule::group`], in plan order.
fn ready_jobs(
    plan: &Plan,
    outcomes: &mut [Option<Outcome>],
    running: &[bool],
    starts: &[(u32, usize)],
    array: usize,
) -> Vec<Vec<usize>> {
    let teachers = tfkd_spec::teacher_indices(&plan.runs);
    let mut ready = Vec::new();
    for (i, p) in plan.runs.iter().enumerate() {
        if outcomes[i].is_some() || running[i] {
            continue;
        }
        // Two entries whose settings are the same are one run: the later waits for the first's outcome
        // ([`share_outcome`]) instead of starting a job that would contend for the same run folder.
        if plan.runs[..i].iter().zip(outcomes.iter()).any(|(q, o)| q.run_id == p.run_id && o.is_none()) {
            continue;
        }
        match readiness(p, teachers[i], outcomes) {
            None => {}
            Some(Err(error)) => outcomes[i] = Some(Outcome::failed(p, error)),
            Some(Ok(())) => ready.push(i),
        }
    }
    crate::schedule::group(&plan.runs, ready, starts, array)
}

/// Gives the entries that share run `i`'s run id (identical settings under other ids) its outcome, as theirs:
/// its record under their names, or its failure.
fn share_outcome(plan: &Plan, i: usize, outcomes: &mut [Option<Outcome>], obs: &mut dyn Observer) {
    let first = &plan.runs[i];
    for (k, p) in plan.runs.iter().enumerate() {
        if k == i || p.run_id != first.run_id || outcomes[k].is_some() {
            continue;
        }
        let shared = match &outcomes[i] {
            Some(Outcome::Trained(r) | Outcome::Cached { record: r, .. }) => {
                let record = as_planned(r.as_ref().clone(), p);
                let by = Some(format!("the same run as {}", first.config.label()));
                obs.event(&Event::RunCached {
                    label: record.label.clone(),
                    run_id: p.run_id.clone(),
                    summary: record.summary.clone(),
                    by: by.clone(),
                });
                Outcome::Cached { record: Box::new(record), by }
            }
            Some(Outcome::Failed { error, .. }) => {
                Outcome::failed(p, format!("the same run as {}, which failed: {error}", first.config.label()))
            }
            Some(Outcome::Interrupted { .. }) | None => continue,
        };
        outcomes[k] = Some(shared);
    }
}

/// A message from a job's thread.
enum Message {
    Event(Box<Event>),
    Done(Vec<usize>, Vec<Outcome>),
}

/// A cached record as the run that finds it: the cache is shared by content, so the run may have been trained
/// under another target's id (a sweep point equal to another table's entry, say) — the settings that made its run
/// id are the same, only the name differs, and the record in this target's results must carry this run's name.
fn as_planned(mut record: RunRecord, p: &PlannedRun) -> RunRecord {
    record.config.id.clone_from(&p.config.id);
    record.label = p.config.label();
    record
}

/// What each planned run has (its outcome when it needs no training) and where each left to train starts.
type Stock = (Vec<Option<Outcome>>, Vec<(u32, usize)>);

/// Takes stock of every planned run before any job starts, saying which are cached.
fn stock(plan: &Plan, ctx: &Context, obs: &mut dyn Observer) -> Result<Stock> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(plan.runs.len());
    let mut starts = Vec::with_capacity(plan.runs.len());
    for p in &plan.runs {
        match take_stock(p, ctx, obs)? {
            Start::Done(outcome) => {
                if let Outcome::Cached { record, .. } = &outcome {
                    obs.event(&Event::RunCached {
                        label: record.label.clone(),
                        run_id: p.run_id.clone(),
                        summary: record.summary.clone(),
                        by: None,
                    });
                }
                outcomes.push(Some(outcome));
                starts.push((0, 0));
            }
            Start::Train(position) => {
                outcomes.push(None);
                starts.push(position);
            }
        }
    }
    Ok((outcomes, starts))
}

/// Runs every planned run, teachers before their students, as [`Options`] say. A run whose record exists
/// (with intact weights and the snapshots its dependents need) is not trained again; a run that failed
/// before is reported, not retried (`tfkd clean --failed` retries it). Outcomes come back in plan order.
pub fn execute(plan: &Plan, ctx: &Context, obs: &mut dyn Observer, opts: Options<'_>) -> Result<Vec<Outcome>> {
    let (mut outcomes, starts) = stock(plan, ctx, obs)?;
    let (tx, rx) = mpsc::channel::<Message>();
    let mut running = vec![false; plan.runs.len()];
    let slots = if opts.launch.is_some() { opts.jobs.max(1) } else { 1 };
    std::thread::scope(|scope| {
        let mut in_flight = 0;
        loop {
            let stopping = ctx.interrupt.load(std::sync::atomic::Ordering::SeqCst);
            if !stopping {
                for job in ready_jobs(plan, &mut outcomes, &running, &starts, opts.array) {
                    if in_flight >= slots {
                        break;
                    }
                    for &i in &job {
                        running[i] = true;
                    }
                    in_flight += 1;
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let runs: Vec<&PlannedRun> = job.iter().map(|&i| &plan.runs[i]).collect();
                        let events = tx.clone();
                        let mut report = |e: Event| {
                            let _ = events.send(Message::Event(Box::new(e)));
                        };
                        let outcomes = match opts.launch {
                            Some(launch) => launch(&runs, &mut report),
                            None => train_job(plan, &runs, ctx, &mut Forward(&mut report)),
                        };
                        let _ = tx.send(Message::Done(job, outcomes));
                    });
                }
            }
            if in_flight == 0 {
                break; // nothing running and nothing could start
            }
            match rx.recv().expect("a job thread holds a sender") {
                Message::Event(e) => obs.event(&e),
                Message::Done(job, results) => {
                    in_flight -= 1;
                    for (i, outcome) in job.into_iter().zip(results) {
                        running[i] = false;
                        outcomes[i] = Some(outcome);
                        share_outcome(plan, i, &mut outcomes, obs);
                    }
                }
            }
        }
    });
    Ok(outcomes
        .into_iter()
        .zip(&plan.runs)
        .map(|(o, p)| {
            o.unwrap_or_else(|| Outcome::Interrupted {
                label: p.config.label(),
                run_id: p.run_id.clone(),
                at: "before it started".into(),
                taken_over: false,
            })
        })
        .collect())
}

/// Tries once to take a run's lease, for tools that must not wait (status, clean).
pub fn try_lease(dir: &RunDir) -> Result<Option<Lease>> {
    Ok(match Lease::try_acquire(&dir.lock(), "tfkd maintenance", lease_timeout())? {
        Acquire::Acquired(l) => Some(l),
        Acquire::Held(_) => None,
    })
}
