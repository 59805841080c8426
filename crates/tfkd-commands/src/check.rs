//! `tfkd check`: a spec validated, its resolved runs listed, and their time here estimated.

use std::sync::{atomic::AtomicBool, Arc};

use tfkd_io::paths;
use tfkd_spec::Experiment;
use tfkd_trainers::engine;

use crate::{
    context::context,
    estimate,
    train::{RunOptions, Sizing},
};

/// `check` answers in seconds: settings not yet measured here are estimated from their FLOPs.
const FROM_FLOPS: estimate::Unmeasured = estimate::Unmeasured::FromFlops;

/// `tfkd check`: validates a spec, lists its resolved runs and estimates their time here.
pub fn check(exp: &Experiment, interrupt: Arc<AtomicBool>) -> anyhow::Result<String> {
    let mut out = format!("{} — {} [profile {}]\n", exp.name, exp.title, exp.profile);
    if let Some(sub) = exp.substitution() {
        out += &format!("dataset substituted: {sub}; {}\n", exp.kl_note());
    }
    for r in &exp.runs {
        let teacher = match (&r.teacher, &r.teacher_weights) {
            (Some(t), _) => format!(" teacher={t}"),
            (None, Some(w)) => format!(" teacher={} ({})", w.file_name(), w.model),
            (None, None) => String::new(),
        };
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
    out += &teacher_files(exp)?;
    out += &paper_table(exp);
    // The defaults `run` would use.
    let opts = RunOptions::default();
    let ctx = context(opts.device, interrupt)?;
    let Sizing { jobs, per_run, .. } = Sizing::of(exp, &opts, ctx.device);
    out += &match engine::plan(exp, &paths::data_dir(), &ctx.cache_dir) {
        Ok(plan) => format!(
            "{}{}\n",
            crate::train::batch_notes(exp, plan.splits.train.len())
                .iter()
                .map(|n| format!("{n}\n"))
                .collect::<String>(),
            estimate::estimate(&plan.runs, estimate::Sizes::of(&plan), &ctx, (jobs, per_run), FROM_FLOPS)?
        ),
        Err(e) => match exp.runs.first().and_then(|r| estimate::Sizes::official(&r.data)) {
            Some(sizes) => format!(
                "{} — with the official dataset size; the data is not here yet ({})\n",
                estimate::estimate(&tfkd_spec::plan(exp, "not-loaded"), sizes, &ctx, (jobs, per_run), FROM_FLOPS)?,
                tfkd_io::chain(&e).lines().next().unwrap_or_default()
            ),
            None => format!("no estimate: the data cannot be loaded here ({})\n", tfkd_io::chain(&e)),
        },
    };
    if let Some(data) = exp.runs.first().map(|r| &r.data).filter(|d| d.source.descriptor().streamed()) {
        out += &gpu_cost(exp, data)?;
    }
    Ok(out)
}

/// The paper table the target mirrors: its rows in the paper's order, each cell's printed number and the
/// entry that fills it (or that this profile does not run it).
fn paper_table(exp: &Experiment) -> String {
    let Some(paper) = &exp.paper else { return String::new() };
    let Some(layout) = paper.layout else { return String::new() };
    let runs = tfkd_report::render::paper_runs(paper.runs, paper.runs_basis.as_deref());
    let mut out = match paper.table {
        Some(_) => format!("paper: {} — {}; {}, {runs}\n", paper.source, paper.caption, paper.dataset),
        None => format!("paper: {}\n", paper.source),
    };
    for row in &paper.rows {
        out += &format!("  {}\n", row.label);
        for col in layout.columns() {
            let Some(cell) = row.cells.get(*col) else { continue };
            let entry = cell.run.as_deref().or(cell.teacher_of.as_deref());
            let ours = match entry {
                Some(id) if exp.runs.iter().any(|r| r.id == id) => id.to_string(),
                Some(id) => format!("{id}, not in this profile"),
                None => cell.paper_note.clone().unwrap_or_else(|| "no run".into()),
            };
            let printed = cell.paper.as_deref().unwrap_or("—");
            out += &format!("    {:<20} {printed:<28} ← {ours}\n", tfkd_report::table::header(col));
        }
    }
    out
}

/// GPUs at once in the GPU-hours line of an ImageNet plan: one node of 8.
const GPUS: usize = 8;

/// An ImageNet plan's cost on GPUs, one per run (README, "ImageNet"), whatever this machine is.
fn gpu_cost(exp: &Experiment, data: &tfkd_spec::DataConfig) -> anyhow::Result<String> {
    use crate::flops_estimate as fe;
    let sizes = estimate::Sizes::official(data).expect("ImageNet's size is known");
    let runs = tfkd_spec::plan(exp, "not-loaded");
    let all: Vec<usize> = (0..runs.len()).collect();
    let feed = fe::GPU_NODE_CORES * fe::PIPELINE_IMG_PER_S_PER_CORE;
    let est = fe::estimate(&runs, &all, sizes, GPUS, fe::gpu_rate()?, feed, true)?;
    let mut out = format!("{est}\n");
    for (label, s) in &est.per_run {
        out += &format!("  {label:<34} {:>7.1} GPU-hours\n", s / 3600.0);
    }
    Ok(out)
}

/// Each teacher file trained elsewhere (`teacher: { weights: … }`), opened now rather than when its students
/// start: found, its sha256 checked against the spec or its torchvision-style name, and parsed as a state dict
/// (no pickled code runs), so a wrong, damaged or hostile file fails `check` naming itself. A file not yet
/// downloaded is said, not an error: `check` still plans.
fn teacher_files(exp: &Experiment) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for w in exp.runs.iter().filter_map(|r| r.teacher_weights.as_ref()) {
        if !seen.insert(w.weights.clone()) {
            continue;
        }
        if paths::find_weights(&w.weights).is_err() {
            out += &format!("teacher file {}: not found yet; its students cannot start without it\n", w.weights);
            continue;
        }
        let choice = tfkd_trainers::teacher::external(w)?;
        let dict = tfkd_pth::read(&choice.path).map_err(|e| anyhow::anyhow!(tfkd_io::chain(&e)))?;
        out += &format!("teacher file {}: sha256 checked, {} tensors\n", choice.path.display(), dict.len());
    }
    Ok(out)
}
