//! A minimal batch system as an executor — each job is a `sh` script (the worker's command line with tfkd's
//! folders in its environment) run in a folder of its own, one after another in plan order (teachers first)
//! — written against the [`Executor`] seam only: it proves that an executor is a module (this one) and a
//! variant of [`ExecutorName`](crate::options::ExecutorName), with nothing in the engine, the spec or `status`
//! knowing it. Hidden from `--help`; its tests run it (`crates/tfkd/tests/executor.rs`).
//!
//! Its queue lives under the cache: `shell/<run id>/job.sh`, the job's output in `job.log` and its state in
//! `state` (`queued`, `running`, `exit N`), which `tfkd status` shows beside the run.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use anyhow::Context as _;
use tfkd_io::paths;
use tfkd_spec::Experiment;
use tfkd_trainers::{
    engine::{self, Plan},
    state::{RunDir, RunState},
    Observer,
};

use crate::{
    executor::{absolute, job_env, Executor, Pass},
    options::RunOptions,
    worker::{stopped_by_signal, WorkerJob},
};

/// The shell executor.
#[derive(Debug)]
pub struct Shell;

/// The queue folder of run `run_id`.
fn job_dir(cache: &Path, run_id: &str) -> PathBuf {
    cache.join("shell").join(run_id)
}

/// `s` quoted for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Executor for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn advance(
        &self,
        exp: &Experiment,
        opts: &RunOptions,
        interrupt: &Arc<AtomicBool>,
        _: &mut dyn Observer,
    ) -> anyhow::Result<Pass> {
        let plan = engine::plan(exp, &paths::data_dir(), &paths::cache_dir())?;
        let cache = absolute(&paths::cache_dir())?;
        let exe = std::env::current_exe().context("locating the tfkd executable")?;
        let spec = exp.file.canonicalize().with_context(|| format!("resolving {}", exp.file.display()))?;
        let env = job_env(&cache, Vec::new())?;
        let mut queue = Vec::new();
        for p in &plan.runs {
            if matches!(RunDir::new(&cache, &p.run_id).state()?, RunState::Done(_) | RunState::Failed(_)) {
                continue;
            }
            let job = WorkerJob {
                spec: spec.clone(),
                run_ids: vec![p.run_id.clone()],
                profile: exp.profile.clone(),
                sets: opts.sets.clone(),
                device: opts.device,
                threads: None,
                no_batch_events: true,
            };
            let dir = job_dir(&cache, &p.run_id);
            submit(&dir, &exe, &job, &env)?;
            queue.push((dir, RunDir::new(&cache, &p.run_id)));
        }
        for (dir, run) in queue {
            if interrupt.load(Ordering::SeqCst) {
                return Ok(Pass::Waiting);
            }
            let status = run_queued(&dir)?;
            if interrupt.load(Ordering::SeqCst) {
                // Stopped with the rest of the process group: the worker checkpointed, the run resumes.
                return Ok(Pass::Waiting);
            }
            // A job that died without a word (killed for memory, a crash) fails its run with how it ended, as a
            // local worker's death does, rather than leaving it for the collecting pass to train in this
            // process; a job stopped by a signal leaves its run partial, to resume.
            let unfinished = !matches!(run.state()?, RunState::Done(_) | RunState::Failed(_));
            if unfinished && !stopped_by_signal(&status) {
                let log = dir.join("job.log");
                let error = format!(
                    "its shell job ended ({}) without finishing it; its output: {}",
                    ended(&status),
                    log.display()
                );
                run.write_failed(&error, &|| true)?;
            }
        }
        Ok(Pass::Ended)
    }

    fn column(&self, plan: &Plan) -> Option<BTreeMap<String, String>> {
        let cache = paths::cache_dir();
        let column: BTreeMap<String, String> = plan
            .runs
            .iter()
            .filter_map(|p| {
                let state = std::fs::read_to_string(job_dir(&cache, &p.run_id).join("state")).ok()?;
                Some((p.run_id.clone(), format!("shell: {}", state.trim())))
            })
            .collect();
        (!column.is_empty()).then_some(column)
    }
}

/// Writes `job`'s script into `dir` and queues it.
fn submit(dir: &Path, exe: &Path, job: &WorkerJob, env: &[(String, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut script = String::from("#!/bin/sh\n");
    for (k, v) in env {
        script += &format!("export {k}={}\n", quote(v));
    }
    let args: Vec<String> = job.args().iter().map(|a| quote(a)).collect();
    script += &format!("exec {} {} > job.log 2>&1\n", quote(&exe.to_string_lossy()), args.join(" "));
    tfkd_io::write_atomic(&dir.join("job.sh"), &script)?;
    set_state(dir, "queued")
}

/// Runs the queued script in `dir` with `sh`, there, and records how it exited (which it returns).
fn run_queued(dir: &Path) -> anyhow::Result<ExitStatus> {
    set_state(dir, "running")?;
    let status = Command::new("sh").arg("job.sh").current_dir(dir).status().context("starting sh")?;
    set_state(dir, &ended(&status))?;
    Ok(status)
}

/// How a job ended, as its `state` file and a failed run say it: `exit N`, or `killed (…)` by a signal.
fn ended(status: &ExitStatus) -> String {
    status.code().map_or_else(|| format!("killed ({status})"), |c| format!("exit {c}"))
}

fn set_state(dir: &Path, state: &str) -> anyhow::Result<()> {
    Ok(tfkd_io::write_atomic(&dir.join("state"), format!("{state}\n"))?)
}
