//! `tfkd run`, `reproduce`, `check`, `status` and `clean`: specs in, runs trained, records written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use tch::Device;
use tfkd_spec::{Experiment, PlannedRun};
use tfkd_trainers::{
    state::{RunDir, RunState},
    Context, Event, JsonLines, Outcome, Parallel, RunRecord,
};

use crate::{libtorch, paths, progress::Progress};

/// Options shared by `run` and `reproduce`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Profile: smoke (seconds), quick (a 2-core CPU machine) or paper (the paper's settings).
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
    /// Runs trained at once, each in its own process [default: on the CPU, cores ÷ train.threads
    /// (1 when train.threads is 0, i.e. all cores); on a GPU, 1]. Results do not depend on it.
    #[arg(long, short)]
    pub jobs: Option<usize>,
}

/// Arguments of the hidden `tfkd train-one`: a worker process that trains one run of a spec for `--jobs`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOneArgs {
    /// Path to the spec.
    pub spec: PathBuf,
    /// Its run id (content hash).
    #[arg(long)]
    pub run_id: String,
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
            exp.runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        )
    })?;
    exp.runs.retain(|r| keep.contains(&r.id));
    Ok(())
}

/// The spec file of a target name (`experiments/<name>.yaml`) or a path.
pub fn spec_path(target: &str) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(target);
    if direct.is_file() {
        return Ok(direct);
    }
    let named = paths::experiments_dir().join(format!("{target}.yaml"));
    if named.is_file() {
        return Ok(named);
    }
    if let Some(name) = crate::report::aliases().ok().and_then(|a| a.aliases.get(target).cloned()) {
        return Ok(paths::experiments_dir().join(format!("{name}.yaml")));
    }
    let known: Vec<String> = std::fs::read_dir(paths::experiments_dir())
        .map(|d| d.filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
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

/// The device, libtorch version and cache folder runs and benchmarks record.
pub fn context(device_arg: &str) -> anyhow::Result<Context> {
    let (device, device_name) = device(device_arg)?;
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(false);
    }
    Ok(Context {
        device,
        device_name,
        libtorch: libtorch::loaded_lib_dir().as_deref().and_then(libtorch::version).unwrap_or_else(|| "unknown".into()),
        cache_dir: paths::cache_dir(),
    })
}

/// Runs trained at once and libtorch threads per worker (`None`: each run's own `train.threads`).
fn jobs(exp: &Experiment, args: &RunArgs, device: Device) -> (usize, Option<usize>) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let per_run = exp.runs.iter().map(|r| r.train.threads).max().unwrap_or(0);
    let jobs = match args.jobs {
        Some(j) => j.max(1),
        None if device.is_cuda() || per_run == 0 => 1,
        None => (cores / per_run).max(1),
    };
    (jobs, (per_run == 0).then(|| (cores / jobs).max(1)))
}

/// Trains one run in a worker process (`tfkd train-one`), forwarding its JSON-line events.
fn train_in_worker(
    exp: &Experiment,
    args: &RunArgs,
    threads: Option<usize>,
    run: &PlannedRun,
    report: &mut dyn FnMut(Event),
) -> tfkd_trainers::Result<RunRecord> {
    use std::io::{BufRead, Read};
    let worker = |e: String| tfkd_trainers::TrainError::Worker(format!("worker for {}: {e}", run.config.label()));
    let exe = std::env::current_exe().map_err(|e| worker(e.to_string()))?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("train-one").arg(&exp.file).args([
        "--run-id",
        &run.run_id,
        "--profile",
        &exp.profile,
        "--device",
        &args.device,
    ]);
    for set in &args.sets {
        cmd.args(["--set", set]);
    }
    // Augmentation threads (rayon) share the cores with libtorch's: one worker's share each.
    let per_worker = threads.unwrap_or(run.config.train.threads).max(1);
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
    let mut child = cmd.spawn().map_err(|e| worker(format!("starting {}: {e}", exe.display())))?;
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        if let Ok(event) = serde_json::from_str::<Event>(&line) {
            report(event);
        }
    }
    let status = child.wait().map_err(|e| worker(e.to_string()))?;
    let said = err_reader.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        return Err(worker(if tail.is_empty() { format!("exited with {status}") } else { tail }));
    }
    for line in said.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("[{}] {line}", run.config.label());
    }
    let dir = RunDir::new(&paths::cache_dir(), &run.run_id);
    dir.read_json::<RunRecord>(&dir.done())?.ok_or_else(|| worker("finished without a done.json".into()))
}

/// `tfkd train-one`: trains one run in this process and reports its events as JSON lines on stdout.
pub fn train_one(args: &TrainOneArgs) -> anyhow::Result<()> {
    let exp = load(&args.spec, &args.profile, &args.sets)?;
    let ctx = context(&args.device)?;
    if let Some(t) = args.threads {
        tch::set_num_threads(i32::try_from(t)?);
    }
    let stdout = std::io::stdout();
    tfkd_trainers::engine::train_one(&exp, &paths::data_dir(), &args.run_id, &ctx, &mut JsonLines(stdout.lock()))?;
    Ok(())
}

/// Trains every run of the experiment and writes each record under `results/<name>/<profile>/runs/`.
pub fn run(exp: &Experiment, args: &RunArgs) -> anyhow::Result<Vec<Outcome>> {
    let ctx = context(&args.device)?;
    if let Some(sub) = exp.substitution() {
        eprintln!("dataset substituted: {sub} (profile {}); {}", exp.profile, exp.kl_note());
    }
    let (jobs, threads) = jobs(exp, args, ctx.device);
    let mut progress = Progress::new(exp.runs.len(), &format!("{} [{}]", exp.name, exp.profile), args.quiet);
    let outcomes = if jobs > 1 {
        eprintln!("training up to {jobs} runs at once, each in its own process");
        let train = |run: &PlannedRun, report: &mut dyn FnMut(Event)| train_in_worker(exp, args, threads, run, report);
        tfkd_trainers::execute(exp, &paths::data_dir(), &ctx, &mut progress, Some(&Parallel { jobs, train: &train }))?
    } else {
        tfkd_trainers::execute(exp, &paths::data_dir(), &ctx, &mut progress, None)?
    };
    progress.finish();
    let dir = results_dir(exp).join("runs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
    let trained = outcomes.iter().filter(|o| matches!(o, Outcome::Trained(_))).count();
    let cached = outcomes.iter().filter(|o| matches!(o, Outcome::Cached(_))).count();
    eprintln!(
        "{}: {trained} trained, {cached} cached, {} failed; records in {}",
        exp.name,
        failed.len(),
        dir.display()
    );
    if !failed.is_empty() {
        bail!("{} run(s) failed:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(outcomes)
}

fn write_record(dir: &Path, record: &RunRecord) -> anyhow::Result<()> {
    let path = dir.join(format!("{}.json", record.label.replace('@', "-s")));
    paths::write_atomic(&path, serde_json::to_string_pretty(record)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// `tfkd check`: validates a spec and lists its resolved runs.
pub fn check(exp: &Experiment) -> anyhow::Result<String> {
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
    Ok(out)
}

/// `tfkd status`: every run folder in the cache with its state.
pub fn status() -> anyhow::Result<String> {
    let root = paths::cache_dir().join("runs");
    let mut rows = Vec::new();
    let (mut done, mut failed, mut partial) = (0, 0, 0);
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        match RunDir::new(&paths::cache_dir(), &id).state()? {
            RunState::Done(r) => {
                done += 1;
                rows.push(format!(
                    "done     {id} {:<32} test {:.2}% (best {:.2}%)",
                    r.label,
                    r.summary.last_test_acc * 100.0,
                    r.summary.best_test_acc * 100.0
                ));
            }
            RunState::Failed(error) => {
                failed += 1;
                rows.push(format!("failed   {id} {error}"));
            }
            RunState::Partial(p) => {
                partial += 1;
                let last = p.metrics.last().map_or(String::new(), |m| format!(", test {:.2}%", m.test_acc * 100.0));
                rows.push(format!(
                    "partial  {id} {} epochs done{last} (running, or interrupted: the same command resumes it)",
                    p.epochs_done
                ));
            }
            RunState::Pending => {}
        }
    }
    rows.sort();
    Ok(format!("{done} done, {partial} partial, {failed} failed in {}\n{}", root.display(), rows.join("\n")))
}

/// `tfkd status TARGET`: each planned run of a target: done, partial, failed or pending.
pub fn target_status(exp: &Experiment) -> anyhow::Result<String> {
    let (_, _, planned) = tfkd_trainers::engine::plan(exp, &paths::data_dir(), &paths::cache_dir())?;
    let mut out = format!("{} [{}]\n", exp.name, exp.profile);
    for p in planned {
        let state = match RunDir::new(&paths::cache_dir(), &p.run_id).state()? {
            RunState::Done(r) => format!("done     test {:.2}%", r.summary.last_test_acc * 100.0),
            RunState::Failed(_) => "failed".into(),
            RunState::Partial(pr) => format!("partial  {}/{} epochs", pr.epochs_done, p.config.train.epochs),
            RunState::Pending => "pending".into(),
        };
        out += &format!("  {:<34} [{}] {state}\n", p.config.label(), p.run_id);
    }
    Ok(out)
}

/// `tfkd clean --failed`: removes failed run folders so they are retried.
pub fn clean_failed() -> anyhow::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(paths::cache_dir().join("runs")).into_iter().flatten().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        if RunDir::new(&paths::cache_dir(), &id).failed().is_file() {
            std::fs::remove_dir_all(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
