//! `tfkd status` and `tfkd clean`: every run folder with its state (damaged ones with the file and why), a
//! target's planned runs, and removing what is failed, damaged or left behind.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tfkd_io::paths;
use tfkd_spec::Experiment;
use tfkd_trainers::{
    engine,
    state::{RunDir, RunState},
};

use crate::executors;

/// Removes the temporary files that processes killed mid-write left behind (cache and results).
pub fn sweep_temporaries() -> Vec<(PathBuf, u64)> {
    let mut removed = tfkd_io::temp::sweep(&paths::cache_dir(), true);
    removed.extend(tfkd_io::temp::sweep(&paths::results_dir(), true));
    removed
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

/// The run folders in the cache's `runs/` (id, path), sorted; none when the folder does not exist yet. A folder
/// that cannot be listed is an error naming it: status and clean never report an empty cache for one they
/// cannot read.
fn run_folders(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let listing = match std::fs::read_dir(root) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list the run folders in {}", root.display())),
    };
    let mut out = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot list the run folders in {}", root.display()))?;
        out.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
    }
    out.sort();
    Ok(out)
}

/// `tfkd status`: every run folder in the cache with its state (damaged ones with the file and why).
pub fn status() -> anyhow::Result<String> {
    let root = paths::cache_dir().join("runs");
    let mut rows = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for (id, _) in run_folders(&root)? {
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
    let jobs = executors::columns(&plan);
    let mut out = format!("{} [{}]\n", exp.name, exp.profile);
    let teachers = tfkd_spec::teacher_indices(&plan.runs);
    for (p, teacher) in plan.runs.iter().zip(teachers) {
        let dir = RunDir::new(&paths::cache_dir(), &p.run_id);
        let (state, text) = describe(&dir, &p.run_id, Some(p.config.train.epochs));
        let text = if state == "done" { text.split_whitespace().skip(1).collect::<Vec<_>>().join(" ") } else { text };
        let teacher_failed =
            teacher.map(|t| &plan.runs[t]).filter(|_| !matches!(state, "done" | "failed")).and_then(|t| {
                let failed = matches!(RunDir::new(&paths::cache_dir(), &t.run_id).state(), Ok(RunState::Failed(_)));
                failed.then(|| t.config.label())
            });
        let text = match teacher_failed {
            Some(t) => format!("{text} — will not train: its teacher run {t} failed"),
            None => text,
        };
        let text = match jobs.get(&p.run_id) {
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
    for (id, folder) in run_folders(&paths::cache_dir().join("runs"))? {
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
        let files = std::fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))?;
        for file in files.flatten() {
            if file.path() != dir.lock() {
                let p = file.path();
                let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                removed.with_context(|| format!("removing {}", p.display()))?;
            }
        }
        drop(lease);
        let _ = std::fs::remove_dir(&folder);
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
