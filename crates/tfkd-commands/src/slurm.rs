//! `--executor slurm`: a target's run graph as Slurm job arrays, and Slurm's view of them in `status`.
//!
//! Submitting takes stock of every planned run first: finished and failed runs are left alone, a run whose
//! recorded task is still queued or running is not submitted again (its students wait for that task), a
//! run whose task failed in Slurm is marked failed with Slurm's reason, and students of a failed teacher
//! are failed too (their still-pending tasks cancelled). What is left is grouped like the local engine
//! groups it — runs that share an [`ArrayKey`] train as one fused array, one Slurm task — and submitted as
//! job arrays per wave ([`tfkd_slurm::waves`]). Each task runs `tfkd train-one` against the same cache and
//! results folders (storage the nodes share), so records are written exactly as locally.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context as _};
use tfkd_slurm::{script, waves, Cluster, Dep, JobRef, JobState, SlurmOptions, SlurmPatch, Submitted, Task};
use tfkd_spec::{names::DeviceChoice, Experiment};
use tfkd_trainers::{
    array::{ArrayKey, Jobs},
    engine,
    state::{RunDir, RunState},
    Event, Observer,
};

use tfkd_io::paths;

use crate::{
    executor::{absolute, job_env, Executor, Pass},
    options::{Flag, RunOptions},
    target::say_substitution,
};

/// The Slurm settings for `exp`: its spec and profile (`executor.slurm`), the cluster's config file, then
/// `--set executor.slurm.*`.
pub fn options(exp: &Experiment, args: &RunOptions) -> anyhow::Result<SlurmOptions> {
    let config = tfkd_slurm::options::config_path(args.flags.slurm_config.as_deref(), paths::project_root().as_deref());
    let file = match &config {
        Some(path) => tfkd_slurm::options::load_config(path)?,
        None => SlurmPatch::default(),
    };
    let (spec, sets) = patches(exp)?;
    let mut opts = SlurmOptions::resolve(&[&spec, &file, &sets])?;
    if opts.cpus_per_task.is_none() {
        let threads = exp.runs.iter().map(|r| r.train.threads).max().unwrap_or(0);
        opts.cpus_per_task = Some(if threads > 0 { u32::try_from(threads)? } else { 4 });
    }
    Ok(opts)
}

/// The `executor.slurm` settings of `exp`'s spec (and profile) and of `--set`.
fn patches(exp: &Experiment) -> anyhow::Result<(SlurmPatch, SlurmPatch)> {
    let [spec, sets] = exp.executor.of("slurm");
    Ok((SlurmPatch::from_value(spec, "the spec")?, SlurmPatch::from_value(sets, "--set")?))
}

/// Where a run stands before a submission.
#[derive(Debug, Clone)]
enum Stand {
    Done,
    Failed(String),
    Active(JobRef),
    /// To submit, resuming from (epoch, batch); with a note on why when it ran before.
    Submit((u32, usize), Option<String>),
}

fn submitted(dir: &RunDir) -> Option<Submitted> {
    dir.read_json::<Submitted>(&dir.executor_file("slurm")).ok().flatten()
}

/// The recorded Slurm task of every run of `plan` that has one, by run id.
fn recorded(plan: &engine::Plan) -> BTreeMap<String, Submitted> {
    let cache = paths::cache_dir();
    plan.runs.iter().filter_map(|p| Some((p.run_id.clone(), submitted(&RunDir::new(&cache, &p.run_id))?))).collect()
}

/// The Slurm state of every run of `plan` that has a recorded task, if Slurm is reachable.
fn states(plan: &engine::Plan) -> anyhow::Result<(BTreeMap<String, Submitted>, BTreeMap<JobRef, JobState>)> {
    let recorded = recorded(plan);
    let arrays: BTreeSet<u64> = recorded.values().map(|s| s.job.array).collect();
    let states = if arrays.is_empty() { BTreeMap::new() } else { Cluster.states(&arrays)? };
    Ok((recorded, states))
}

/// Slurm as an [`Executor`]: what is left of the plan submitted as job arrays (with `--wait`, until nothing is
/// left); `status` shows each run's task.
#[derive(Debug)]
pub struct Slurm;

impl Executor for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn flags(&self) -> &'static [Flag] {
        &[Flag::DryRun, Flag::Wait, Flag::SlurmConfig]
    }

    fn advance(
        &self,
        exp: &Experiment,
        opts: &RunOptions,
        interrupt: &Arc<AtomicBool>,
        obs: &mut dyn Observer,
    ) -> anyhow::Result<Pass> {
        say_substitution(exp, obs);
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
            let s = submit(exp, opts, &plan, obs)?;
            if opts.flags.dry_run {
                return Ok(Pass::Waiting);
            }
            if s.active == 0 {
                return Ok(Pass::Ended);
            }
            if !opts.flags.wait {
                obs.event(&Event::note(format!(
                    "{} run(s) queued or running in Slurm; `tfkd status {} --profile {}` shows them. Run this \
                     command again when they finish to write the records and report, or pass --wait.",
                    s.active, exp.name, exp.profile
                )));
                return Ok(Pass::Waiting);
            }
            if !wait(&plan, interrupt, obs)? {
                return Ok(Pass::Waiting);
            }
        }
    }

    /// The spec's and `--set`'s settings read and checked as Slurm's (the cluster's config file is read at
    /// submission).
    fn check_settings(&self, exp: &Experiment) -> anyhow::Result<()> {
        let (spec, sets) = patches(exp)?;
        SlurmOptions::resolve(&[&spec, &sets])?;
        Ok(())
    }

    fn column(&self, plan: &engine::Plan) -> Option<BTreeMap<String, String>> {
        column(plan)
    }
}

/// What a submission did and what is left.
#[derive(Debug, Default)]
pub struct Submission {
    /// Runs submitted now.
    pub submitted: usize,
    /// Runs whose tasks are queued or running (now submitted included).
    pub active: usize,
    /// Runs failed (now or before), with why.
    pub failed: Vec<String>,
}

/// Takes stock of `plan` and submits what is left; with `dry_run`, hands the scripts to `obs` as output instead.
pub fn submit(
    exp: &Experiment,
    args: &RunOptions,
    plan: &engine::Plan,
    obs: &mut dyn Observer,
) -> anyhow::Result<Submission> {
    let opts = options(exp, args)?;
    let cluster = Cluster;
    if !args.flags.dry_run && !cluster.available() {
        bail!("--executor slurm: `sbatch` is not available here; run tfkd where Slurm's commands are (a login node)");
    }
    let cache = absolute(&paths::cache_dir())?;
    let stands = take_stock(plan, &cache, &cluster, args.flags.dry_run, obs)?;
    let mut out = Submission::default();
    for (p, stand) in plan.runs.iter().zip(&stands) {
        match stand {
            Stand::Failed(e) => out.failed.push(format!("  {} [{}]: {e}", p.config.label(), p.run_id)),
            Stand::Active(_) => out.active += 1,
            Stand::Submit(_, Some(note)) => {
                obs.event(&Event::note(format!("resubmitting {}: {note}", p.config.label())))
            }
            Stand::Done | Stand::Submit(_, None) => {}
        }
    }
    // Tasks: runs to submit that share an array key and what they wait for, up to the array limit.
    let cuda = args.device.is_cuda() || (args.device == DeviceChoice::Auto && opts.wants_gpu());
    let limit = tfkd_trainers::schedule::array_limit(&plan.runs, cuda);
    let tasks = group(plan, &stands, limit);
    if tasks.is_empty() {
        if args.flags.dry_run {
            obs.event(&Event::Output {
                text: format!(
                    "# dry run: nothing to submit — every run of {} [{}] is finished, failed, queued or running",
                    exp.name, exp.profile
                ),
            });
        }
        return Ok(out);
    }
    let submitter = Submitter {
        exp,
        worker: worker(exp, args, &opts, &cache)?,
        opts: &opts,
        stamp: tfkd_trainers::provenance::rfc3339(SystemTime::now()),
        dir: cache.join("slurm").join(&exp.name).join(&exp.profile),
        logs: cache.join("slurm/logs"),
        cache: &cache,
        dry_run: args.flags.dry_run,
    };
    let n = submitter.submit(&tasks, &cluster, obs)?;
    out.submitted += n;
    out.active += n;
    Ok(out)
}

/// Where each run of `plan` stands, from its folder and Slurm's view of its recorded task; a run whose
/// task failed in Slurm is marked failed (unless `dry_run`), and the active tasks of runs whose teacher
/// failed are cancelled.
fn take_stock(
    plan: &engine::Plan,
    cache: &Path,
    cluster: &Cluster,
    dry_run: bool,
    obs: &mut dyn Observer,
) -> anyhow::Result<Vec<Stand>> {
    let (recorded, states) = if dry_run && !cluster.available() { Default::default() } else { states(plan)? };
    let mut stands: Vec<Stand> = Vec::with_capacity(plan.runs.len());
    let mut cancel = Vec::new();
    let teachers = tfkd_spec::teacher_indices(&plan.runs);
    for (p, teacher) in plan.runs.iter().zip(&teachers) {
        let dir = RunDir::new(cache, &p.run_id);
        let teacher_failed =
            teacher.filter(|&i| matches!(stands[i], Stand::Failed(_))).map(|i| plan.runs[i].config.label());
        let task = recorded.get(&p.run_id).map(|s| (s, states.get(&s.job)));
        let stand = match dir.state()? {
            RunState::Done(_) => Stand::Done,
            RunState::Failed(e) => Stand::Failed(e),
            state => {
                let position = state.resume_position().unwrap_or((0, 0));
                if let (Some(_), Some((s, Some(st)))) = (&teacher_failed, task) {
                    if st.is_active() {
                        cancel.push(s.job);
                    }
                }
                unfinished(&dir, position, teacher_failed, task, dry_run)?
            }
        };
        stands.push(stand);
    }
    if !cancel.is_empty() && !dry_run {
        cluster.cancel(&cancel)?;
        obs.event(&Event::note(format!(
            "cancelled {} task(s) whose teacher failed: {}",
            cancel.len(),
            cancel.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(stands)
}

/// Where an unfinished run stands: failed with its teacher, active in Slurm, failed in Slurm (recorded in
/// its folder), or to submit (saying why when it ran before).
fn unfinished(
    dir: &RunDir,
    position: (u32, usize),
    teacher_failed: Option<String>,
    task: Option<(&Submitted, Option<&JobState>)>,
    dry_run: bool,
) -> anyhow::Result<Stand> {
    Ok(match (teacher_failed, task) {
        (Some(teacher), _) => Stand::Failed(format!("its teacher run {teacher} did not finish")),
        (None, Some((s, Some(st)))) if st.is_active() => Stand::Active(s.job),
        (None, Some((s, Some(st)))) if st.is_failure() => {
            let error =
                format!("Slurm task {} ended {st}; its log: {}", s.job, s.log.replace("%A_%a", &s.job.to_string()));
            if !dry_run {
                dir.write_failed(&error, &|| true)?;
            }
            Stand::Failed(error)
        }
        (None, Some((s, Some(st)))) => Stand::Submit(position, Some(format!("its task {} ended {st}", s.job))),
        (None, Some((s, None))) => Stand::Submit(position, Some(format!("Slurm no longer knows its task {}", s.job))),
        (None, None) => Stand::Submit(position, None),
    })
}

/// The runs to submit grouped as the local engine groups them: runs that share an [`ArrayKey`] and what they
/// wait for train as one task, up to `limit` runs; a task waits for its teacher's queued job or task.
fn group(plan: &engine::Plan, stands: &[Stand], limit: usize) -> Vec<Task> {
    let mut jobs = Jobs::new(limit);
    let mut task_of: BTreeMap<usize, usize> = BTreeMap::new();
    let teachers = tfkd_spec::teacher_indices(&plan.runs);
    for (i, p) in plan.runs.iter().enumerate() {
        let Stand::Submit(position, _) = &stands[i] else { continue };
        let mut deps = BTreeSet::new();
        if let Some(t) = teachers[i] {
            match &stands[t] {
                Stand::Active(j) => {
                    deps.insert(Dep::Queued(*j));
                }
                Stand::Submit(..) => {
                    deps.insert(Dep::Task(task_of[&t]));
                }
                Stand::Done | Stand::Failed(_) => {}
            }
        }
        task_of.insert(i, jobs.add(i, (ArrayKey::of(p, *position), deps)));
    }
    let task = |(_, deps): (_, BTreeSet<Dep>), runs: Vec<usize>| Task {
        run_ids: runs.iter().map(|&i| plan.runs[i].run_id.clone()).collect(),
        labels: runs.iter().map(|&i| plan.runs[i].config.label()).collect(),
        deps,
    };
    jobs.into_jobs().into_iter().map(|(key, runs)| task(key, runs)).collect()
}

/// Writes and submits a target's job arrays (or prints them, for a dry run).
struct Submitter<'a> {
    exp: &'a Experiment,
    worker: script::Worker,
    opts: &'a SlurmOptions,
    stamp: String,
    /// Where the scripts go.
    dir: PathBuf,
    logs: PathBuf,
    cache: &'a Path,
    dry_run: bool,
}

impl Submitter<'_> {
    /// Submits `tasks` as job arrays, one per wave, each depending on the arrays of the waves before;
    /// returns the runs submitted.
    fn submit(&self, tasks: &[Task], cluster: &Cluster, obs: &mut dyn Observer) -> anyhow::Result<usize> {
        let arrays = waves::arrays(tasks);
        let output = self.logs.join("%A_%a.log").to_string_lossy().into_owned();
        if self.dry_run {
            let runs: usize = tasks.iter().map(|t| t.run_ids.len()).sum();
            obs.event(&Event::Output {
                text: format!(
                    "# dry run: {runs} run(s) as {} task(s) in {} job array(s), submitted in this order",
                    tasks.len(),
                    arrays.len()
                ),
            });
        } else {
            for d in [&self.dir, &self.logs] {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            }
        }
        let mut placed: Vec<Option<JobRef>> = vec![None; tasks.len()];
        let (mut lines, mut submitted) = (Vec::new(), 0);
        for (k, array) in arrays.iter().enumerate() {
            let name_of = |t: usize| match placed[t] {
                Some(j) => j.to_string(),
                None => arrays
                    .iter()
                    .enumerate()
                    .find_map(|(k, a)| Some(format!("$ARRAY{}_{}", k + 1, a.tasks.iter().position(|&x| x == t)?)))
                    .unwrap_or_default(),
            };
            let dependency = array.dependency(&name_of);
            let text = self.script(array, tasks, &output, dependency.as_deref());
            if self.dry_run {
                let header = format!("\n# ---- job array {} of {} (wave {}) ----", k + 1, arrays.len(), array.wave);
                obs.event(&Event::Output { text: format!("{header}\n{text}") });
                continue;
            }
            let path = self.dir.join(format!("{}-{k}.sbatch", self.stamp.replace(':', "")));
            tfkd_io::write_atomic(&path, &text)?;
            let id = cluster.sbatch(&path).with_context(|| format!("submitting {}", path.display()))?;
            for (task_id, &t) in array.tasks.iter().enumerate() {
                let job = JobRef { array: id, task: u32::try_from(task_id)? };
                placed[t] = Some(job);
                self.record(job, &path, &output, &tasks[t].run_ids)?;
            }
            let n: usize = array.tasks.iter().map(|&t| tasks[t].run_ids.len()).sum();
            lines.push(format!(
                "  job {id}: {} task(s), {n} run(s), wave {}{}",
                array.tasks.len(),
                array.wave,
                dependency.map_or(String::new(), |d| format!(", after {}", d.trim_start_matches("afterok:")))
            ));
            submitted += n;
        }
        if !self.dry_run {
            obs.event(&Event::note(format!(
                "submitted {submitted} run(s) of {} [{}] as {} Slurm job array(s):\n{}\nscripts in {}, logs in {}",
                self.exp.name,
                self.exp.profile,
                arrays.len(),
                lines.join("\n"),
                self.dir.display(),
                self.logs.display()
            )));
        }
        Ok(submitted)
    }

    /// The sbatch script of one job array.
    fn script(&self, array: &waves::ArrayPlan, tasks: &[Task], output: &str, dependency: Option<&str>) -> String {
        let exp = self.exp;
        let name = format!("tfkd-{}-{}-w{}", exp.name, exp.profile, array.wave);
        let comment = format!(
            "tfkd {} [{}], wave {}: {} task(s); generated {}; `tfkd status {} --profile {}` shows them",
            exp.name,
            exp.profile,
            array.wave,
            array.tasks.len(),
            self.stamp,
            exp.name,
            exp.profile
        );
        let header = script::Header { name: &name, output, dependency, comment: &comment };
        script::render(array, tasks, &header, self.opts, &self.worker)
    }

    /// Records the submitted task in each of its runs' folders (`slurm.json`).
    fn record(&self, job: JobRef, script: &Path, output: &str, run_ids: &[String]) -> anyhow::Result<()> {
        for run_id in run_ids {
            let record = Submitted {
                job,
                script: script.to_string_lossy().into_owned(),
                log: output.replace("%A_%a", &job.to_string()),
                submitted: self.stamp.clone(),
                target: format!("{} [{}]", self.exp.name, self.exp.profile),
            };
            let rd = RunDir::new(self.cache, run_id);
            rd.create()?;
            rd.write_json(&rd.executor_file("slurm"), &record)?;
        }
        Ok(())
    }
}

/// How a task starts the worker: this executable, the spec and overrides, tfkd's folders as absolute paths.
fn worker(exp: &Experiment, args: &RunOptions, opts: &SlurmOptions, cache: &Path) -> anyhow::Result<script::Worker> {
    let exe = std::env::current_exe().context("locating the tfkd executable")?;
    let spec = exp.file.canonicalize().with_context(|| format!("resolving {}", exp.file.display()))?;
    let cpus = opts.cpus_per_task.unwrap_or(1);
    // Each task's script appends its own `--run-id`s.
    let a = crate::worker::WorkerJob {
        spec,
        run_ids: Vec::new(),
        profile: exp.profile.clone(),
        sets: args.sets.clone(),
        device: args.device,
        threads: exp.runs.iter().any(|r| r.train.threads == 0).then_some(cpus as usize),
        no_batch_events: true,
    }
    .args();
    let env = job_env(cache, vec![("RAYON_NUM_THREADS".into(), cpus.to_string())])?;
    let workdir = paths::project_root().map_or_else(std::env::current_dir, Ok)?;
    Ok(script::Worker { exe, args: a, workdir, env })
}

/// Slurm's state of each run of `plan` with a recorded task, as `status` shows it (`None` without any).
pub fn column(plan: &engine::Plan) -> Option<BTreeMap<String, String>> {
    let recorded = recorded(plan);
    if recorded.is_empty() {
        return None;
    }
    let states = if Cluster.available() {
        Cluster.states(&recorded.values().map(|s| s.job.array).collect()).map_err(|e| e.to_string())
    } else {
        Err("Slurm's commands are not available here".to_string())
    };
    Some(
        recorded
            .into_iter()
            .map(|(run, s)| {
                let text = match &states {
                    Ok(st) => match st.get(&s.job) {
                        Some(state) if state.never_starts() => {
                            format!("slurm {}: {state} — it will never start; `tfkd reproduce` cancels it", s.job)
                        }
                        Some(state) => format!("slurm {}: {state}", s.job),
                        None => format!("slurm {}: no longer known to Slurm", s.job),
                    },
                    Err(e) => format!("slurm {}: {e}", s.job),
                };
                (run, text)
            })
            .collect(),
    )
}

/// Waits until no run of `plan` has a queued or running task, printing counts as they change; `false`
/// when interrupted (the tasks go on).
pub fn wait(plan: &engine::Plan, interrupt: &Arc<AtomicBool>, obs: &mut dyn Observer) -> anyhow::Result<bool> {
    let poll = Duration::from_secs_f64(
        std::env::var("TFKD_SLURM_POLL").ok().and_then(|s| s.parse().ok()).unwrap_or(15.0_f64).max(0.2),
    );
    let mut last = String::new();
    loop {
        let (recorded, states) = states(plan)?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in recorded.values() {
            let key = states.get(&s.job).map_or_else(|| "UNKNOWN".to_string(), |st| st.state.clone());
            *counts.entry(key).or_default() += 1;
        }
        let active = recorded.values().filter(|s| states.get(&s.job).is_some_and(JobState::is_active)).count();
        let line = counts.iter().map(|(k, v)| format!("{v} {}", k.to_lowercase())).collect::<Vec<_>>().join(", ");
        if line != last {
            obs.event(&Event::note(format!("slurm: {line}")));
            last = line;
        }
        if active == 0 {
            return Ok(true);
        }
        let until = std::time::Instant::now() + poll;
        while std::time::Instant::now() < until {
            if interrupt.load(Ordering::SeqCst) {
                obs.event(&Event::note("stopped waiting; the Slurm tasks go on (`tfkd status` shows them)"));
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
