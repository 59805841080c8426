//! Worker processes: `tfkd train-one` trains one job (one run, or a fused array) and reports its events as
//! JSON lines; the parent supervises it — the worker dies with the thread that started it
//! (`PR_SET_PDEATHSIG`), a stop request reaches it as SIGUSR1, and a worker that dies without a word fails
//! its runs with how it died (or, stopped by a signal after checkpointing, leaves them partial).

use std::{
    collections::BTreeMap,
    io::{BufRead, Read},
    path::{Path, PathBuf},
    process::{Child, ExitStatus},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use tfkd_io::paths;
use tfkd_spec::{names::DeviceChoice, Experiment, PlannedRun};
use tfkd_trainers::{
    engine,
    state::{RunDir, RunState},
    Context, Event, JsonLines, Observer as _, Outcome, RunRecord,
};

use crate::{context::context, target::load};

/// The exit status of a worker or a `run`/`reproduce` stopped by a signal with its checkpoints kept.
pub const INTERRUPTED_EXIT: u8 = 3;

/// How the parent starts workers for one target.
pub struct Spawn<'a> {
    /// The target.
    pub exp: &'a Experiment,
    /// `--set` overrides, as given to the parent.
    pub sets: &'a [String],
    /// The device, as given to the parent.
    pub device: DeviceChoice,
    /// libtorch threads per worker when the runs ask for all cores.
    pub threads: Option<usize>,
    /// The parent's context (cache folder, stop flag).
    pub ctx: &'a Context,
}

impl Spawn<'_> {
    /// Trains `job` in a worker process, forwarding its events to `report`; one outcome per run.
    pub fn train(&self, job: &[&PlannedRun], report: &mut dyn FnMut(Event)) -> Vec<Outcome> {
        let mut child = match self.start(job) {
            Ok(child) => child,
            Err(error) => {
                return job
                    .iter()
                    .map(|p| Outcome::Failed {
                        label: p.config.label(),
                        run_id: p.run_id.clone(),
                        error: error.clone(),
                    })
                    .collect()
            }
        };
        let mut stderr = child.stderr.take().expect("piped");
        let err_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let done = Arc::new(AtomicBool::new(false));
        let watcher = pass_stop_on(child.id(), self.ctx.interrupt.clone(), done.clone());
        let ended = forward(&mut child, report);
        let status = child.wait();
        done.store(true, Ordering::SeqCst);
        let _ = watcher.join();
        let said = err_reader.join().unwrap_or_default();
        job.iter().map(|p| self.outcome(p, ended.get(&p.config.label()), &status, &said)).collect()
    }

    /// Starts `tfkd train-one` for `job`, its stdout and stderr piped; the error says why it could not.
    fn start(&self, job: &[&PlannedRun]) -> Result<Child, String> {
        let labels: Vec<String> = job.iter().map(|p| p.config.label()).collect();
        let exe = std::env::current_exe().map_err(|e| format!("worker for {}: {e}", labels.join(", ")))?;
        let worker = WorkerJob {
            spec: self.exp.file.clone(),
            run_ids: job.iter().map(|p| p.run_id.clone()).collect(),
            profile: self.exp.profile.clone(),
            sets: self.sets.to_vec(),
            device: self.device,
            threads: self.threads,
            no_batch_events: false,
        };
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(worker.args());
        // Augmentation threads (rayon) share the cores with libtorch's: one worker's share each.
        let per_worker = self.threads.unwrap_or(job[0].config.train.threads).max(1);
        cmd.env("RAYON_NUM_THREADS", per_worker.to_string());
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        // SAFETY: prctl is async-signal-safe; the worker gets SIGTERM if the thread that started it dies
        // (e.g. the parent is killed), so no orphan keeps writing a run folder the next invocation resumes.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        cmd.spawn().map_err(|e| format!("starting {}: {e}", exe.display()))
    }

    /// A run's outcome from the event that ended it, or, without one, from how the worker ended.
    fn outcome(
        &self,
        p: &PlannedRun,
        ended: Option<&Event>,
        status: &std::io::Result<ExitStatus>,
        said: &str,
    ) -> Outcome {
        let label = p.config.label();
        let run_id = p.run_id.clone();
        let record = || {
            let dir = RunDir::new(&self.ctx.cache_dir, &p.run_id);
            dir.read_json::<RunRecord>(&dir.done()).ok().flatten().map(Box::new)
        };
        match ended {
            Some(Event::RunEnd { .. }) => match record() {
                Some(r) => Outcome::Trained(r),
                None => Outcome::Failed { label, run_id, error: "finished without a done.json".into() },
            },
            Some(Event::RunCached { by, .. }) => match record() {
                Some(r) => Outcome::Cached { record: r, by: by.clone() },
                None => Outcome::Failed { label, run_id, error: "cached without a done.json".into() },
            },
            Some(Event::RunInterrupted { at, taken_over, .. }) => {
                Outcome::Interrupted { label, run_id, at: at.clone(), taken_over: *taken_over }
            }
            Some(Event::RunFailed { error, .. }) => Outcome::Failed { label, run_id, error: error.clone() },
            _ => unannounced(label, run_id, &self.ctx.cache_dir, status, said),
        }
    }
}

/// While `done` is unset, watches `interrupt` and passes a stop request on to the worker `pid`.
fn pass_stop_on(pid: u32, interrupt: Arc<AtomicBool>, done: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            if interrupt.load(Ordering::SeqCst) {
                // SIGUSR1 only asks the worker to checkpoint and stop: a signal sent to the whole process
                // group (Ctrl-C, `kill -TERM -PGID`) has already reached it, and a second SIGINT or SIGTERM
                // would make it exit at once without saying what it kept.
                // SAFETY: signalling our own child by pid.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) };
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
}

/// Forwards the worker's events; returns the event that ended each run, by label.
fn forward(child: &mut Child, report: &mut dyn FnMut(Event)) -> BTreeMap<String, Event> {
    let mut ended = BTreeMap::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        if let Ok(event) = serde_json::from_str::<Event>(&line) {
            if let Event::RunEnd { label, .. }
            | Event::RunCached { label, .. }
            | Event::RunFailed { label, .. }
            | Event::RunInterrupted { label, .. } = &event
            {
                ended.insert(label.clone(), event.clone());
            }
            report(event);
        }
    }
    ended
}

/// The outcome of a run whose worker ended without saying how the run ended.
fn unannounced(
    label: String,
    run_id: String,
    cache: &Path,
    status: &std::io::Result<ExitStatus>,
    said: &str,
) -> Outcome {
    let how = match status {
        Ok(s) if s.success() => String::new(),
        Ok(s) => format!("worker exited with {s}"),
        Err(e) => format!("worker: {e}"),
    };
    // Stopped by a signal after checkpointing: the run is partial and resumes; say so instead of calling it
    // failed (its folder is read, and its checkpoint verified, once).
    if let Some(epochs) = status.as_ref().is_ok_and(stopped_by_signal).then(|| partial_epochs(cache, &run_id)).flatten()
    {
        return Outcome::Interrupted {
            label,
            run_id,
            at: format!("{how}; partial, {epochs} epoch(s) checkpointed — the same command resumes it from there"),
            taken_over: false,
        };
    }
    let lines: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    let error = [how.as_str(), tail.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(": ");
    Outcome::Failed {
        label,
        run_id,
        error: if error.is_empty() { "worker ended without a word".into() } else { error },
    }
}

/// Whether a worker ended because it was asked to stop (SIGINT, SIGTERM, SIGHUP, or the exit status of a
/// second interrupt or of an interrupted run) rather than by a crash, which stays a failure.
pub(crate) fn stopped_by_signal(s: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let code = s.code();
    matches!(s.signal(), Some(libc::SIGINT | libc::SIGTERM | libc::SIGHUP))
        || code == Some(130)
        || code == Some(i32::from(INTERRUPTED_EXIT))
}

/// The epochs a partial run has checkpointed, or `None` when it is not partial.
fn partial_epochs(cache: &Path, run_id: &str) -> Option<u32> {
    match RunDir::new(cache, run_id).state() {
        Ok(RunState::Partial { progress, .. }) => Some(progress.epochs_done),
        _ => None,
    }
}

/// What a worker trains: the arguments of `tfkd train-one`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerJob {
    /// Path to the spec.
    pub spec: PathBuf,
    /// The runs' ids; several train as one fused array.
    pub run_ids: Vec<String>,
    /// Profile.
    pub profile: String,
    /// Overrides, as given to the parent.
    pub sets: Vec<String>,
    /// Device.
    pub device: DeviceChoice,
    /// libtorch threads when the run's `train.threads` is 0.
    pub threads: Option<usize>,
    /// Leave out the per-batch events (a cluster task's log keeps one line per epoch and run).
    pub no_batch_events: bool,
}

impl WorkerJob {
    /// The worker's command line after the executable — the one place it is written; the binary parses it
    /// back into this type (`tfkd train-one`, tested to round-trip). Run ids come last, so a batch script can
    /// append each task's own.
    #[must_use]
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["train-one".to_string()];
        if self.no_batch_events {
            a.push("--no-batch-events".into());
        }
        a.push(self.spec.to_string_lossy().into_owned());
        a.extend(["--profile".into(), self.profile.clone(), "--device".into(), self.device.to_string()]);
        for s in &self.sets {
            a.extend(["--set".into(), s.clone()]);
        }
        if let Some(t) = self.threads {
            a.extend(["--threads".into(), t.to_string()]);
        }
        for id in &self.run_ids {
            a.extend(["--run-id".into(), id.clone()]);
        }
        a
    }
}

/// `tfkd train-one`: trains one job in this process and reports its events as JSON lines on stdout. Exits
/// with [`INTERRUPTED_EXIT`] when stopped by a signal (a cluster task's cue to requeue itself), with 1 when
/// a run failed (so a Slurm task fails and its students' tasks are cancelled), else 0.
pub fn train_one(args: &WorkerJob, interrupt: Arc<AtomicBool>) -> anyhow::Result<std::process::ExitCode> {
    let exp = load(&args.spec, &args.profile, &args.sets)?;
    let ctx = context(args.device, interrupt)?;
    if let Some(t) = args.threads {
        tch::set_num_threads(i32::try_from(t)?);
    }
    let plan = engine::plan(&exp, &paths::data_dir(), &ctx.cache_dir)?;
    let job: Vec<&PlannedRun> = args
        .run_ids
        .iter()
        .map(|id| {
            plan.runs
                .iter()
                .find(|p| &p.run_id == id)
                .ok_or_else(|| anyhow::anyhow!("{}: no planned run has id {id}", exp.name))
        })
        .collect::<anyhow::Result<_>>()?;
    let stdout = std::io::stdout();
    let mut lines = JsonLines(stdout.lock());
    let mut epochs_only = |e: Event| {
        if !matches!(e, Event::Batch { .. }) {
            lines.event(&e);
        }
    };
    let outcomes = if args.no_batch_events {
        engine::train_job(&plan, &job, &ctx, &mut engine::Forward(&mut epochs_only))
    } else {
        engine::train_job(&plan, &job, &ctx, &mut JsonLines(stdout.lock()))
    };
    if outcomes.iter().any(|o| matches!(o, Outcome::Interrupted { .. })) {
        return Ok(std::process::ExitCode::from(INTERRUPTED_EXIT));
    }
    // Each failure went to the parent (or the cluster task's log) as a RunFailed event.
    let failed = outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. }));
    Ok(if failed { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}
