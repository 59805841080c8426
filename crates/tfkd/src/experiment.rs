//! `tfkd run`, `reproduce`, `check`, `status` and `clean`: specs in, runs trained, records written.

use std::{
    io::{BufRead, Read},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{bail, Context as _};
use tch::Device;
use tfkd_spec::{Experiment, PlannedRun};
use tfkd_trainers::{
    engine::{self, Options, Plan},
    state::{RunDir, RunState},
    Context, Event, JsonLines, Observer as _, Outcome, RunRecord,
};

use crate::{
    estimate, libtorch, numerics, paths,
    progress::Progress,
    slurm::{self, Executor},
};

/// Options shared by `run` and `reproduce`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Profile: smoke (seconds), quick (a 2-core CPU machine), gpu (one GPU) or paper (the paper's settings).
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Override a setting, e.g. `--set train.epochs=3` (sections: dataset, train, model, seeds).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Device: auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// One line per epoch instead of progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Train only these run ids (and the teachers they need).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Jobs trained at once, each in its own process [default: on the CPU, cores ÷ train.threads
    /// (1 when train.threads is 0, i.e. all cores); on a GPU, 1]. Results do not depend on it. At least 1.
    #[arg(long, short, value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,
    /// Where to train: here, or on a Slurm cluster (job arrays submitted from this login node; run the
    /// same command again when they finish to write the report, or pass --wait).
    #[arg(long, value_enum, default_value_t)]
    pub executor: crate::slurm::Executor,
    /// With `--executor slurm`: print the sbatch scripts and their order without submitting anything.
    #[arg(long)]
    pub dry_run: bool,
    /// With `--executor slurm`: wait for the submitted tasks, then write the records and report.
    #[arg(long)]
    pub wait: bool,
    /// Train even when the estimated time here is long (above 3 hours), without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With `--executor slurm`: the cluster's settings (default: $TFKD_SLURM_CONFIG, slurm.yaml in the
    /// project, ~/.config/tfkd/slurm.yaml).
    #[arg(long, value_name = "FILE")]
    pub slurm_config: Option<PathBuf>,
}

/// Arguments of the hidden `tfkd train-one`: a worker process that trains one job (one run, or an array).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOneArgs {
    /// Path to the spec.
    pub spec: PathBuf,
    /// The runs' ids (content hashes); several train as one fused array.
    #[arg(long = "run-id", required = true)]
    pub run_ids: Vec<String>,
    /// Profile.
    #[arg(long)]
    pub profile: String,
    /// Overrides, as given to the parent.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Device.
    #[arg(long)]
    pub device: String,
    /// libtorch threads when the run's train.threads is 0.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Leave out the per-batch events (a cluster task's log keeps one line per epoch and run).
    #[arg(long)]
    pub no_batch_events: bool,
}

/// Keeps the runs named in `only` and, transitively, their teachers.
pub fn select(exp: &mut Experiment, only: &[String]) -> anyhow::Result<()> {
    if only.is_empty() {
        return Ok(());
    }
    let teacher_of = |id: &str| exp.runs.iter().find(|r| r.id == id).map(|r| r.teacher.as_deref());
    let keep = tfkd_spec::with_teachers(only, teacher_of).map_err(|id| {
        anyhow::anyhow!(
            "--only {id}: no such run in {} (runs: {})",
            exp.name,
            exp.runs
                .iter()
                .map(|r| r.id.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    exp.runs.retain(|r| keep.contains(&r.id));
    Ok(())
}

/// The spec file of a target: a path to a spec, a name under experiments/, or a paper alias (table1…).
pub fn spec_path(target: &str) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(target);
    if direct.is_file() {
        return Ok(direct);
    }
    if target.ends_with(".yaml") || target.ends_with(".yml") || target.contains('/') {
        bail!("no spec file {}", direct.display());
    }
    let named = paths::experiments_dir().join(format!("{target}.yaml"));
    if named.is_file() {
        return Ok(named);
    }
    if let Some(name) = crate::report::aliases().ok().and_then(|a| a.aliases.get(target).cloned()) {
        return Ok(paths::experiments_dir().join(format!("{name}.yaml")));
    }
    let mut known: Vec<String> = std::fs::read_dir(paths::experiments_dir())
        .map(|d| d.filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    known.sort();
    bail!("no experiment '{target}': looked for {} (known: {})", named.display(), known.join(", "))
}

/// Loads and resolves a spec.
pub fn load(path: &Path, profile: &str, sets: &[String]) -> anyhow::Result<Experiment> {
    tfkd_spec::load(path, profile, sets).map_err(|e| anyhow::anyhow!("invalid spec:\n{e}"))
}

/// Parses a device name (auto, cpu, cuda, cuda:N) and checks that libtorch can use it; returns it and its label.
fn device(name: &str) -> anyhow::Result<(Device, String)> {
    let device = match name {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Device::Cuda(n),
            None => bail!("unknown device '{other}': expected auto, cpu, cuda or cuda:N"),
        },
    };
    if device.is_cuda() && !tch::Cuda::is_available() {
        bail!("CUDA was requested but libtorch sees no GPU (see `tfkd doctor`)");
    }
    let label = match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".to_string(),
    };
    Ok((device, label))
}

/// Where a target's records go: `results/<name>/<profile>/`.
#[must_use]
pub fn results_dir(exp: &Experiment) -> PathBuf {
    paths::results_dir().join(&exp.name).join(&exp.profile)
}

/// The device, libtorch version, numerics mode and cache folder runs and benchmarks record; `interrupt` is the
/// flag the signal handlers set.
pub fn context(device_arg: &str, interrupt: Arc<AtomicBool>) -> anyhow::Result<Context> {
    let (device, device_name) = device(device_arg)?;
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(false);
    }
    Ok(Context {
        device,
        device_name,
        libtorch: libtorch::loaded_lib_dir().as_deref().and_then(libtorch::version).unwrap_or_else(|| "unknown".into()),
        numerics: numerics::describe(),
        cache_dir: paths::cache_dir(),
        interrupt,
    })
}

/// Jobs trained at once and libtorch threads per worker (`None`: each run's own `train.threads`).
fn jobs(exp: &Experiment, args: &RunArgs, device: Device) -> (usize, Option<usize>) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let per_run = exp.runs.iter().map(|r| r.train.threads).max().unwrap_or(0);
    let jobs = match args.jobs {
        Some(j) => usize::try_from(j).unwrap_or(usize::MAX),
        None if device.is_cuda() || per_run == 0 => 1,
        None => (cores / per_run).max(1),
    };
    (jobs, (per_run == 0).then(|| (cores / jobs).max(1)))
}

/// Trains one job in a worker process (`tfkd train-one`), forwarding its JSON-line events; outcomes from
/// the events it sent (a worker that dies without a word fails its runs with how it died).
fn train_in_worker(
    exp: &Experiment,
    args: &RunArgs,
    threads: Option<usize>,
    job: &[&PlannedRun],
    ctx: &Context,
    report: &mut dyn FnMut(Event),
) -> Vec<Outcome> {
    let labels: Vec<String> = job.iter().map(|p| p.config.label()).collect();
    let fail_all = |error: String| -> Vec<Outcome> {
        job.iter()
            .map(|p| Outcome::Failed { label: p.config.label(), run_id: p.run_id.clone(), error: error.clone() })
            .collect()
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail_all(format!("worker for {}: {e}", labels.join(", "))),
    };
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("train-one").arg(&exp.file).args(["--profile", &exp.profile, "--device", &args.device]);
    for p in job {
        cmd.args(["--run-id", &p.run_id]);
    }
    for set in &args.sets {
        cmd.args(["--set", set]);
    }
    // Augmentation threads (rayon) share the cores with libtorch's: one worker's share each.
    let per_worker = threads.unwrap_or(job[0].config.train.threads).max(1);
    cmd.env("RAYON_NUM_THREADS", per_worker.to_string());
    if let Some(t) = threads {
        cmd.args(["--threads", &t.to_string()]);
    }
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
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail_all(format!("starting {}: {e}", exe.display())),
    };
    let pid = child.id();
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // A parent that is asked to stop passes it on, so the worker checkpoints and says so.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, interrupt) = (done.clone(), ctx.interrupt.clone());
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
    };
    let mut ended: std::collections::BTreeMap<String, Event> = std::collections::BTreeMap::new();
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
    let status = child.wait();
    done.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    let said = err_reader.join().unwrap_or_default();
    let lines: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    let how = match &status {
        Ok(s) if s.success() => String::new(),
        Ok(s) => format!("worker exited with {s}"),
        Err(e) => format!("worker: {e}"),
    };
    job.iter()
        .map(|p| {
            let label = p.config.label();
            let record = || {
                let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
                dir.read_json::<RunRecord>(&dir.done()).ok().flatten().map(Box::new)
            };
            match ended.get(&label) {
                Some(Event::RunEnd { .. }) => match record() {
                    Some(r) => Outcome::Trained(r),
                    None => Outcome::Failed {
                        label,
                        run_id: p.run_id.clone(),
                        error: "finished without a done.json".into(),
                    },
                },
                Some(Event::RunCached { by, .. }) => match record() {
                    Some(r) => Outcome::Cached { record: r, by: by.clone() },
                    None => {
                        Outcome::Failed { label, run_id: p.run_id.clone(), error: "cached without a done.json".into() }
                    }
                },
                Some(Event::RunInterrupted { at, .. }) => {
                    Outcome::Interrupted { label, run_id: p.run_id.clone(), at: at.clone() }
                }
                Some(Event::RunFailed { error, .. }) => {
                    Outcome::Failed { label, run_id: p.run_id.clone(), error: error.clone() }
                }
                _ => {
                    let partial = stopped_by_signal(&status).then(|| partial_epochs(&ctx.cache_dir, &p.run_id));
                    // Stopped by a signal after checkpointing: the run is partial and resumes; say so instead of
                    // calling it failed (its folder is read, and its checkpoint verified, once).
                    if let Some(epochs) = partial.flatten() {
                        return Outcome::Interrupted {
                            label,
                            run_id: p.run_id.clone(),
                            at: format!(
                                "{how}; partial, {epochs} epoch(s) checkpointed — the same command resumes it from there"
                            ),
                        };
                    }
                    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
                    let error = [how.as_str(), tail.as_str()]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(": ");
                    Outcome::Failed {
                        label,
                        run_id: p.run_id.clone(),
                        error: if error.is_empty() { "worker ended without a word".into() } else { error },
                    }
                }
            }
        })
        .collect()
}

/// Whether a worker ended because it was asked to stop (SIGINT, SIGTERM, SIGHUP, or the exit status of a
/// second interrupt or of an interrupted run) rather than by a crash, which stays a failure.
fn stopped_by_signal(status: &std::io::Result<std::process::ExitStatus>) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let Ok(s) = status else { return false };
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

/// `tfkd train-one`: trains one job in this process and reports its events as JSON lines on stdout. Exits
/// with [`INTERRUPTED_EXIT`] when stopped by a signal (a cluster task's cue to requeue itself), with 1 when
/// a run failed (so a Slurm task fails and its students' tasks are cancelled), else 0.
pub fn train_one(args: &TrainOneArgs, interrupt: Arc<AtomicBool>) -> anyhow::Result<std::process::ExitCode> {
    let exp = load(&args.spec, &args.profile, &args.sets)?;
    let ctx = context(&args.device, interrupt)?;
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
    let mut failed = false;
    for o in &outcomes {
        if let Outcome::Failed { label, error, .. } = o {
            eprintln!("{label} failed: {error}");
            failed = true;
        }
    }
    Ok(if failed { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}

/// The exit status of a worker or a `run`/`reproduce` stopped by a signal with its checkpoints kept.
pub const INTERRUPTED_EXIT: u8 = 3;

/// Checks before any work that the results folder can be written, so a read-only folder is found now.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = tfkd_io::temp::path_for(&dir.join("write-check"));
    std::fs::write(&probe, b"").with_context(|| format!("{} cannot be written", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Removes the temporary files that processes killed mid-write left behind (cache and results).
pub fn sweep_temporaries() -> Vec<(PathBuf, u64)> {
    let mut removed = tfkd_io::temp::sweep(&paths::cache_dir(), true);
    removed.extend(tfkd_io::temp::sweep(&paths::results_dir(), true));
    removed
}

/// Trains a target's runs with the chosen executor: `Some` once every run has finished or failed and the
/// records are written; `None` while runs are still queued or running in Slurm (and after a dry run).
pub fn train(exp: &Experiment, args: &RunArgs, interrupt: Arc<AtomicBool>) -> anyhow::Result<Option<Ran>> {
    if args.executor == Executor::Local {
        if args.dry_run || args.wait || args.slurm_config.is_some() {
            bail!("--dry-run, --wait and --slurm-config go with --executor slurm");
        }
        return run(exp, args, interrupt).map(Some);
    }
    if let Some(sub) = exp.substitution() {
        eprintln!("dataset substituted: {sub} (profile {}); {}", exp.profile, exp.kl_note());
    }
    let plan = engine::plan(exp, &paths::data_dir(), &paths::cache_dir())?;
    // One submitter per target at a time, so two invocations never submit the same runs.
    let lock = paths::cache_dir().join("slurm").join(format!("{}-{}.lock", exp.name, exp.profile));
    std::fs::create_dir_all(lock.parent().expect("under the cache"))?;
    let _lease = match tfkd_io::Lease::try_acquire(&lock, "tfkd submitting to Slurm", Duration::from_secs(120))? {
        tfkd_io::Acquire::Acquired(l) => l,
        tfkd_io::Acquire::Held(owner) => {
            bail!("{owner} is submitting {} [{}] now; try again when it is done", exp.name, exp.profile)
        }
    };
    loop {
        let s = slurm::submit(exp, args, &plan)?;
        if args.dry_run {
            return Ok(None);
        }
        if s.active == 0 {
            break;
        }
        if !args.wait {
            eprintln!(
                "{} run(s) queued or running in Slurm; `tfkd status {} --profile {}` shows them. Run this command \
                 again when they finish to write the records and report, or pass --wait.",
                s.active, exp.name, exp.profile
            );
            return Ok(None);
        }
        if !slurm::wait(&plan, &interrupt)? {
            return Ok(None);
        }
    }
    // Every run has finished or failed: collect the records as a local run would, training nothing.
    run(exp, &RunArgs { executor: Executor::Local, wait: false, slurm_config: None, ..args.clone() }, interrupt)
        .map(Some)
}

/// What `run`/`reproduce` leaves for the report step: the plan (data and runs).
pub struct Ran {
    /// The plan.
    pub plan: Plan,
}

/// Trains every run of the experiment and writes each finished run's record under
/// `results/<name>/<profile>/runs/`, also when interrupted (then it says what was kept and fails).
pub fn run(exp: &Experiment, args: &RunArgs, interrupt: Arc<AtomicBool>) -> anyhow::Result<Ran> {
    let ctx = context(&args.device, interrupt)?;
    let dir = results_dir(exp).join("runs");
    check_writable(&dir)?;
    for (path, size) in sweep_temporaries() {
        eprintln!("removed {} ({size} bytes), a temporary file a killed process left behind", path.display());
    }
    if let Some(sub) = exp.substitution() {
        eprintln!("dataset substituted: {sub} (profile {}); {}", exp.profile, exp.kl_note());
    }
    let plan = engine::plan(exp, &paths::data_dir(), &ctx.cache_dir)?;
    let (jobs, threads) = jobs(exp, args, ctx.device);
    let per_run = threads.unwrap_or_else(|| exp.runs.iter().map(|r| r.train.threads).max().unwrap_or(0));
    let estimate = estimate::estimate(&plan.runs, estimate::Sizes::of(&plan), &ctx, jobs, per_run)?;
    if !estimate::confirm(&estimate, &exp.profile, ctx.device, args.yes)? {
        bail!("not started: {} would take about {} here", exp.name, estimate::human(estimate.seconds));
    }
    // The estimate is kept beside the records, so the report can set it against the measured time.
    let started = std::time::Instant::now();
    let mut kept = (estimate.runs > 0).then(|| tfkd_report::timing::Estimate {
        estimated_s: estimate.seconds,
        jobs,
        per_run: estimate.per_run.clone(),
        measured_s: None,
    });
    if let Some(k) = &kept {
        k.write(&results_dir(exp))?;
    }
    let array = exp.runs.iter().map(|r| r.train.array.limit(ctx.device.is_cuda())).min().unwrap_or(1);
    let mut progress = Progress::new(exp.runs.len(), &format!("{} [{}]", exp.name, exp.profile), args.quiet);
    let launch =
        |job: &[&PlannedRun], report: &mut dyn FnMut(Event)| train_in_worker(exp, args, threads, job, &ctx, report);
    if jobs > 1 {
        eprintln!("training up to {jobs} jobs at once, each in its own process");
    }
    if array > 1 {
        eprintln!("runs that share a model train as fused arrays of up to {array}");
    }
    let opts = Options { jobs, array, launch: (jobs > 1).then_some(&launch as &engine::Launch<'_>) };
    let outcomes = engine::execute(&plan, &ctx, &mut progress, opts)?;
    progress.finish();
    for record in outcomes.iter().filter_map(Outcome::record) {
        write_record(&dir, record)?;
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed { label, run_id, error } => Some(format!("  {label} [{run_id}]: {error}")),
            _ => None,
        })
        .collect();
    let interrupted: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Interrupted { label, at, .. } => Some(format!("  {label}: {at}")),
            _ => None,
        })
        .collect();
    let trained = outcomes.iter().filter(|o| matches!(o, Outcome::Trained(_))).count();
    if let Some(k) = kept.as_mut().filter(|_| trained > 0) {
        k.measured_s = Some(started.elapsed().as_secs_f64());
        k.write(&results_dir(exp))?;
    }
    let cached = outcomes.iter().filter(|o| matches!(o, Outcome::Cached { .. })).count();
    eprintln!(
        "{}: {trained} trained, {cached} cached, {} failed, {} interrupted; records in {}",
        exp.name,
        failed.len(),
        interrupted.len(),
        dir.display()
    );
    if !interrupted.is_empty() {
        bail!(Interrupted(format!(
            "stopped: {} finished run(s) are recorded in {}; {} run(s) kept their last checkpoint and the same command resumes them:\n{}",
            trained + cached,
            dir.display(),
            interrupted.len(),
            summarise(&interrupted)
        )));
    }
    if !failed.is_empty() {
        bail!("{} run(s) failed:\n{}", failed.len(), summarise(&failed));
    }
    Ok(Ran { plan })
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

/// A run or reproduce stopped by a signal: the message says what was kept (exit status [`INTERRUPTED_EXIT`]).
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

fn write_record(dir: &Path, record: &RunRecord) -> anyhow::Result<()> {
    let path = dir.join(format!("{}.json", record.label.replace('@', "-s")));
    tfkd_io::write_atomic(&path, serde_json::to_string_pretty(record)?)?;
    Ok(())
}

/// `tfkd check`: validates a spec, lists its resolved runs and estimates their time here.
pub fn check(exp: &Experiment, interrupt: Arc<AtomicBool>) -> anyhow::Result<String> {
    let mut out = format!("{} — {} [profile {}]\n", exp.name, exp.title, exp.profile);
    if let Some(sub) = exp.substitution() {
        out += &format!("dataset substituted: {sub}; {}\n", exp.kl_note());
    }
    for r in &exp.runs {
        let teacher = r.teacher.as_deref().map_or(String::new(), |t| format!(" teacher={t}"));
        let snap = r.teacher_snapshot.map_or(String::new(), |s| format!(" snapshot={s:?}"));
        out += &format!(
            "  {:<34} {:<16} {:<11} width {:<6} epochs {:<4} batch {:<4} lr {}{teacher}{snap}\n",
            r.label(),
            r.model,
            r.method.name(),
            r.model_options.width,
            r.train.epochs,
            r.train.batch_size,
            r.train.base_lr()
        );
    }
    let args = RunArgs::for_check(exp);
    let ctx = context(&args.device, interrupt)?;
    let (jobs, threads) = jobs(exp, &args, ctx.device);
    let per_run = threads.unwrap_or_else(|| exp.runs.iter().map(|r| r.train.threads).max().unwrap_or(0));
    out += &match engine::plan(exp, &paths::data_dir(), &ctx.cache_dir) {
        Ok(plan) => format!("{}\n", estimate::estimate(&plan.runs, estimate::Sizes::of(&plan), &ctx, jobs, per_run)?),
        Err(e) => match exp.runs.first().and_then(|r| estimate::Sizes::official(&r.data)) {
            Some(sizes) => format!(
                "{} — with the official dataset size; the data is not here yet ({})\n",
                estimate::estimate(&tfkd_spec::plan(exp, "not-loaded"), sizes, &ctx, jobs, per_run)?,
                tfkd_io::chain(&e).lines().next().unwrap_or_default()
            ),
            None => format!("no estimate: the data cannot be loaded here ({})\n", tfkd_io::chain(&e)),
        },
    };
    Ok(out)
}

impl RunArgs {
    /// The defaults `run` would use, for `check`'s estimate.
    fn for_check(exp: &Experiment) -> RunArgs {
        RunArgs {
            profile: exp.profile.clone(),
            sets: Vec::new(),
            device: "auto".into(),
            quiet: true,
            only: Vec::new(),
            jobs: None,
            executor: Executor::Local,
            dry_run: false,
            wait: false,
            yes: true,
            slurm_config: None,
        }
    }
}

/// A run folder's state for `status`: a folder that cannot be read is reported as such, not an error that
/// hides every other run.
fn describe(dir: &RunDir, id: &str, epochs: Option<u32>) -> (&'static str, String) {
    let running = dir.holder().map(|o| format!(" — running now: {o}")).unwrap_or_default();
    let state = match dir.state() {
        Ok(state) => state,
        Err(e) => return ("unreadable", format!("{} — {}", dir.path().display(), tfkd_io::chain(&e))),
    };
    match state {
        RunState::Done(r) => {
            // A finished run is only as good as its weights: a student or a report would read them.
            let damaged = dir.verify(&r);
            if !damaged.is_empty() {
                return (
                    "damaged",
                    format!(
                        "{:<32} {} — the next run of its target retrains it; `tfkd clean --damaged` removes it",
                        r.label,
                        damaged.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    ),
                );
            }
            let leftovers = dir.leftovers();
            let note = if leftovers.is_empty() {
                String::new()
            } else {
                format!("; {} leftover checkpoint file(s), `tfkd clean --damaged` removes them", leftovers.len())
            };
            (
                "done",
                format!(
                    "{:<32} test {:.2}% (best {:.2}%){note}",
                    r.label,
                    r.summary.last_test_acc * 100.0,
                    r.summary.best_test_acc * 100.0
                ),
            )
        }
        RunState::Failed(error) => ("failed", error),
        RunState::Partial { progress, damaged } => {
            let last = progress.metrics.last().map_or(String::new(), |m| format!(", test {:.2}%", m.test_acc * 100.0));
            let of = epochs.map_or(String::new(), |e| format!("/{e}"));
            let damaged = if damaged.is_empty() {
                String::new()
            } else {
                format!("; damaged and skipped: {}", damaged.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            };
            let how = if running.is_empty() { " (interrupted: the same command resumes it)" } else { "" };
            ("partial", format!("{}{of} epochs done{last}{how}{running}{damaged}", progress.epochs_done))
        }
        RunState::Damaged(d) => (
            "damaged",
            format!(
                "{} — the next run of its target resumes it from its last good checkpoint or retrains it; `tfkd clean --damaged` removes it",
                d.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
        ),
        RunState::Pending if !running.is_empty() => ("running", format!("starting{running}")),
        RunState::Pending => ("pending", format!("[{id}]")),
    }
}

/// `tfkd status`: every run folder in the cache with its state (damaged ones with the file and why).
pub fn status() -> anyhow::Result<String> {
    let root = paths::cache_dir().join("runs");
    let mut rows = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let (state, text) = describe(&RunDir::new(&paths::cache_dir(), &id), &id, None);
        if state == "pending" {
            continue;
        }
        *counts.entry(state).or_insert(0) += 1;
        rows.push(format!("{state:<8} {id} {text}"));
    }
    rows.sort();
    let summary: Vec<String> = ["done", "partial", "running", "failed", "damaged", "unreadable"]
        .iter()
        .map(|s| format!("{} {s}", counts.get(s).unwrap_or(&0)))
        .collect();
    Ok(format!("{} in {}\n{}", summary.join(", "), root.display(), rows.join("\n")))
}

/// `tfkd status TARGET`: each planned run of a target: done, partial, running, failed, damaged or pending.
pub fn target_status(exp: &Experiment) -> anyhow::Result<String> {
    let plan = engine::plan(exp, &paths::data_dir(), &paths::cache_dir())?;
    let slurm = slurm::column(&plan);
    let mut out = format!("{} [{}]\n", exp.name, exp.profile);
    for p in &plan.runs {
        let dir = RunDir::new(&paths::cache_dir(), &p.run_id);
        let (state, text) = describe(&dir, &p.run_id, Some(p.config.train.epochs));
        let text = if state == "done" { text.split_whitespace().skip(1).collect::<Vec<_>>().join(" ") } else { text };
        let teacher_failed = p.teacher_id.as_ref().filter(|_| !matches!(state, "done" | "failed")).and_then(|t| {
            let failed = matches!(RunDir::new(&paths::cache_dir(), t).state(), Ok(RunState::Failed(_)));
            failed.then(|| plan.runs.iter().find(|q| &q.run_id == t).map_or(t.clone(), |q| q.config.label()))
        });
        let text = match teacher_failed {
            Some(t) => format!("{text} — will not train: its teacher run {t} failed"),
            None => text,
        };
        let text = match slurm.as_ref().and_then(|s| s.get(&p.run_id)) {
            Some(job) if state != "done" => format!("{text} — {job}"),
            _ => text,
        };
        out += &format!("  {:<34} [{}] {state:<8} {text}\n", p.config.label(), p.run_id);
    }
    Ok(out)
}

/// What `tfkd clean` removes.
#[derive(Debug, Clone, Copy)]
pub struct Clean {
    /// Failed runs, so the next invocation retries them.
    pub failed: bool,
    /// Damaged run folders.
    pub damaged: bool,
    /// Temporary files left by killed processes.
    pub temp: bool,
}

/// `tfkd clean`: removes what `what` names; run folders another process is training are left alone.
pub fn clean(what: Clean) -> anyhow::Result<String> {
    let mut lines = Vec::new();
    let (mut failed, mut damaged) = (0, 0);
    for entry in std::fs::read_dir(paths::cache_dir().join("runs")).into_iter().flatten().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let dir = RunDir::new(&paths::cache_dir(), &id);
        let state = match dir.state() {
            Ok(state) => state,
            Err(e) => {
                lines.push(format!("left {id}: it cannot be read ({})", tfkd_io::chain(&e)));
                continue;
            }
        };
        let remove = match &state {
            RunState::Failed(_) => what.failed,
            RunState::Damaged(_) => what.damaged,
            RunState::Done(record) if what.damaged => {
                if !dir.verify(record).is_empty() {
                    true
                } else {
                    for file in dir.leftovers() {
                        std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
                        lines
                            .push(format!("removed {}, a checkpoint its finished run no longer needs", file.display()));
                    }
                    false
                }
            }
            _ => false,
        };
        if !remove {
            continue;
        }
        let Some(lease) = engine::try_lease(&dir)? else {
            lines.push(format!("left {id}: another process is working in it"));
            continue;
        };
        match state {
            RunState::Failed(_) => failed += 1,
            _ => damaged += 1,
        }
        // Everything but the lock goes while the lease is held, so no process starts on a half-removed folder.
        for file in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            if file.path() != dir.lock() {
                let p = file.path();
                let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                removed.with_context(|| format!("removing {}", p.display()))?;
            }
        }
        drop(lease);
        let _ = std::fs::remove_dir(entry.path());
    }
    if what.failed {
        lines.push(format!("removed {failed} failed run(s)"));
    }
    if what.damaged {
        lines.push(format!("removed {damaged} damaged run(s)"));
        let caches = tfkd_datasets::cache::unusable(&paths::cache_dir());
        for (path, why) in &caches {
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
            lines.push(format!("removed the decode cache {} ({why})", path.display()));
        }
        lines.push(format!("removed {} damaged or stale decode cache(s)", caches.len()));
    }
    if what.temp {
        let removed = sweep_temporaries();
        let bytes: u64 = removed.iter().map(|r| r.1).sum();
        lines.push(format!("removed {} temporary file(s), {bytes} bytes", removed.len()));
    }
    Ok(lines.join("\n"))
}
