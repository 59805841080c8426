//! `tfkd report` and the report step of `reproduce`: tables and figures from recorded runs only.

use std::path::PathBuf;

use anyhow::Context as _;
use tfkd_analysis::soft::TeacherCurve;
use tfkd_report::{folders::TargetDir, Metric, Report};
use tfkd_spec::Experiment;
use tfkd_trainers::engine::Plan;

use tfkd_io::paths;

use crate::target;

/// Builds and writes the report of `exp` from `results/<name>/<profile>/runs`; returns it and the folder. A
/// warning (records left out) goes to `obs`.
pub fn report(
    exp: &Experiment,
    metric: Metric,
    obs: &mut dyn tfkd_trainers::Observer,
) -> anyhow::Result<(Report, PathBuf)> {
    let dir = target::results_dir(exp);
    if !dir.has_runs() {
        anyhow::bail!(
            "no run records for {} [{}] in {}: run `tfkd reproduce {} --profile {}` first",
            exp.name,
            exp.profile,
            dir.runs().display(),
            exp.name,
            exp.profile
        );
    }
    // A record that does not parse is named with what is wrong, not taken for missing records.
    let records = tfkd_report::load_dir(&dir.runs())?;
    let (records, stale) = tfkd_report::record::current(exp, records);
    let mut noted;
    let exp = if stale.is_empty() {
        exp
    } else {
        obs.event(&tfkd_trainers::Event::note(format!(
            "warning: {} record(s) in {} were trained with settings this spec no longer has and are left out: {}",
            stale.len(),
            dir.runs().display(),
            stale.join(", ")
        )));
        noted = exp.clone();
        if let Some(paper) = &mut noted.paper {
            paper.notes.push(format!(
                "Left out: {} record(s) trained with settings this spec no longer has ({}).",
                stale.len(),
                stale.join(", ")
            ));
        }
        &noted
    };
    let soft_path = dir.soft_targets();
    let curve: Option<TeacherCurve> = match std::fs::read_to_string(&soft_path) {
        Ok(text) => Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", soft_path.display()))?),
        Err(_) => None,
    };
    let mut report = tfkd_report::build(exp, &records, metric, curve.as_ref())?;
    let estimate = tfkd_report::timing::Estimate::read(&dir)?;
    report.timing = Some(tfkd_report::timing::timing(&records, estimate.as_ref()));
    tfkd_report::write(&report, &dir)?;
    Ok((report, dir.path().to_path_buf()))
}

/// Computes and stores the soft-target curve of a Tf-KD_reg target (after its runs finished).
pub fn store_teacher_curve(exp: &Experiment, plan: &Plan) -> anyhow::Result<()> {
    if let Some(curve) = tfkd_trainers::teacher::soft_target_curve(exp, plan, &paths::cache_dir())? {
        let path = target::results_dir(exp).soft_targets();
        tfkd_io::write_atomic(&path, serde_json::to_string_pretty(&curve)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A short summary of verdicts for the terminal.
#[must_use]
pub fn verdict_lines(report: &Report) -> String {
    let mut out = String::new();
    let rows =
        report.table.iter().flat_map(|t| &t.rows).flat_map(|r| r.claims.iter().map(move |c| (r.label.as_str(), c)));
    let own = report.entries.iter().flat_map(|e| &e.claims).map(|c| ("(spec)", c));
    for (row, c) in rows.chain(own) {
        if let Some(v) = c.verdict {
            let d = c.diff.map_or(String::new(), |d| format!("Δ {:+.2} over {} seed(s)", d.mean, d.n));
            out += &format!("  {row:<28} {:<40} {:<16} {d}\n", c.claim, v.describe());
        }
    }
    out
}

/// Targets without a paper alias that `tfkd report` also reports (sensitivity studies).
#[must_use]
pub fn extra_targets() -> Vec<String> {
    let aliased: Vec<String> =
        target::aliases().map(|a| a.aliases.into_values().flat_map(|t| t.names()).collect()).unwrap_or_default();
    let mut extra: Vec<String> = std::fs::read_dir(paths::experiments_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|n| !aliased.contains(n) && !["defaults", "paper", "smoke"].contains(&n.as_str()))
        .filter(|n| {
            tfkd_spec::load(&paths::experiments_dir().join(format!("{n}.yaml")), "quick", &[])
                .is_ok_and(|e| !e.sweeps.is_empty())
        })
        .collect();
    extra.sort();
    extra
}

/// Writes `results/README.md`: every target and profile folder with a report; returns its path.
pub fn write_index() -> anyhow::Result<PathBuf> {
    let paper = target::aliases().unwrap_or_default();
    let alias_of = |target: &str| Some(paper.aliases_of(target).join(", ")).filter(|a| !a.is_empty());
    let results = target::results();
    let root = results.path();
    let mut targets: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| results.holds_target(p))
        .collect();
    targets.sort();
    let mut entries = Vec::new();
    for t in targets {
        let name = t.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut profiles: Vec<PathBuf> =
            std::fs::read_dir(&t).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        profiles.sort();
        for p in profiles {
            if let Some(e) = tfkd_report::index::entry(&TargetDir::at(p), alias_of(&name))? {
                entries.push(e);
            }
        }
    }
    entries.sort_by(|a, b| {
        (a.alias.is_none(), &a.alias, &a.target, &a.profile).cmp(&(b.alias.is_none(), &b.alias, &b.target, &b.profile))
    });
    let path = results.index();
    tfkd_io::write_atomic(&path, tfkd_report::index::markdown(&entries))?;
    write_ledger()?;
    Ok(path)
}

/// Writes `results/CLAIMS.md`, the claims ledger ([`tfkd_report::ledger`]); returns its path.
pub fn write_ledger() -> anyhow::Result<PathBuf> {
    let paper = target::aliases()?;
    let results = target::results();
    let targets = tfkd_report::ledger::collect(&paper, &|name| target::spec_path(name).ok(), results.path())?;
    let path = results.ledger();
    tfkd_io::write_atomic(&path, tfkd_report::ledger::markdown(&paper, &targets))?;
    Ok(path)
}
