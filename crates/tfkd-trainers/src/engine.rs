//! Executing an experiment: load data once, expand the run graph, skip finished runs, train the rest
//! teachers first, and collect every run's record.

use std::path::Path;

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

/// Loads the data an experiment uses and plans its runs (the data's content hash is part of every run id).
pub fn plan(exp: &Experiment, data_dir: &Path, cache_dir: &Path) -> Result<(prepare::Splits, String, Vec<PlannedRun>)> {
    let data = &exp.runs.first().ok_or_else(|| TrainError::Config("experiment has no runs".into()))?.data;
    let source = prepare::source(data, data_dir)?;
    let ds = source.load(cache_dir)?;
    let splits = prepare::splits(&ds, data)?;
    let planned = tfkd_spec::plan(exp, &ds.content_hash);
    for p in &planned {
        prepare::model(&p.config, splits.classes, splits.train.chw[0])?;
    }
    Ok((splits, ds.content_hash, planned))
}

/// Runs every planned run in order. A run whose `done.json` exists (with the snapshots its dependents need)
/// is not trained again; a run that failed before is reported, not retried (`tfkd clean --failed` retries it).
pub fn execute(exp: &Experiment, data_dir: &Path, ctx: &Context, obs: &mut dyn Observer) -> Result<Vec<Outcome>> {
    let (splits, data_hash, planned) = plan(exp, data_dir, &ctx.cache_dir)?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    for p in &planned {
        let label = p.config.label();
        let dir = RunDir::new(&ctx.cache_dir, &p.run_id);
        if let Some(record) = dir.read_json::<RunRecord>(&dir.done())? {
            let has_snapshots = (p.keep_all_epochs && (1..=record.summary.epochs).all(|e| dir.snapshot(e).is_file()))
                || (!p.keep_all_epochs && p.keep_epochs.iter().all(|&e| dir.snapshot(e).is_file()));
            if has_snapshots {
                obs.event(&Event::RunCached { label: &label, run_id: &p.run_id, summary: &record.summary });
                outcomes.push(Outcome::Cached(Box::new(record)));
                continue;
            }
            // Retrain (deterministically) to produce the snapshots a new dependent needs.
            std::fs::remove_dir_all(dir.path()).map_err(crate::error::io(dir.path()))?;
        }
        if let Some(failure) = dir.read_json::<serde_json::Value>(&dir.failed())? {
            let error = format!("failed earlier ({}); `tfkd clean --failed` removes it so it can be retried", failure["error"].as_str().unwrap_or("?"));
            outcomes.push(Outcome::Failed { label, run_id: p.run_id.clone(), error });
            continue;
        }
        let teacher = match &p.teacher_id {
            None => None,
            Some(tid) => match outcomes.iter().filter_map(Outcome::record).find(|r| &r.run_id == tid) {
                Some(t) => Some(run::teacher_weights(p, t, &ctx.cache_dir)),
                None => {
                    outcomes.push(Outcome::Failed { label, run_id: p.run_id.clone(), error: "its teacher run did not finish".into() });
                    continue;
                }
            },
        };
        let result = match teacher {
            Some(Err(e)) => Err(e),
            Some(Ok(t)) => run::train(p, &splits, &data_hash, Some(&t), ctx, obs),
            None => run::train(p, &splits, &data_hash, None, ctx, obs),
        };
        outcomes.push(match result {
            Ok(record) => Outcome::Trained(Box::new(record)),
            Err(e) => Outcome::Failed { label, run_id: p.run_id.clone(), error: e.to_string() },
        });
    }
    Ok(outcomes)
}
