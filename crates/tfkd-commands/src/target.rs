//! A target by name: its spec file, the runs a user selected, and where its records go.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use tfkd_io::paths;
use tfkd_report::folders::{Results, TargetDir};
use tfkd_spec::Experiment;

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

/// The targets a name stands for: a paper alias's (`table4` → `dekd`, `dekd-tiny-imagenet`), else the name.
#[must_use]
pub fn targets(name: &str) -> Vec<String> {
    let is_spec = PathBuf::from(name).is_file() || paths::experiments_dir().join(format!("{name}.yaml")).is_file();
    match aliases().ok().and_then(|a| a.targets_of(name)) {
        Some(t) if !is_spec => t,
        _ => vec![name.to_string()],
    }
}

/// The spec file of a target: a path to a spec, a name under experiments/, or a paper alias (table1…, fig3…) that
/// stands for one target ([`targets`] expands the others).
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
    if let Some(t) = aliases().ok().and_then(|a| a.targets_of(target)) {
        match t.as_slice() {
            [one] => return Ok(paths::experiments_dir().join(format!("{one}.yaml"))),
            many => bail!("{target} stands for several targets ({}): name one of them", many.join(", ")),
        }
    }
    let mut known: Vec<String> = std::fs::read_dir(paths::experiments_dir())
        .map(|d| d.filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    known.sort();
    bail!("no experiment '{target}': looked for {} (known: {})", named.display(), known.join(", "))
}

/// Loads and resolves a spec (commands load through [`crate::spec::load`], which also checks its executor
/// settings; a worker process loads with this, its parent having checked).
pub fn load(path: &Path, profile: &str, sets: &[String]) -> anyhow::Result<Experiment> {
    tfkd_spec::load(path, profile, sets).map_err(|e| anyhow::anyhow!("invalid spec:\n{e}"))
}

/// Where a target's records go: `results/<name>/<profile>/`.
#[must_use]
pub fn results_dir(exp: &Experiment) -> TargetDir {
    results().target(&exp.name, &exp.profile)
}

/// The results root in use (`results/`, or `$TFKD_RESULTS_DIR`).
#[must_use]
pub fn results() -> Results {
    Results::new(paths::results_dir())
}

/// The paper's table aliases and numbers as `experiments/paper.yaml` holds them in the experiments folder in
/// use (a project may keep its own), or outside a clone the one built into tfkd.
pub fn aliases() -> anyhow::Result<tfkd_spec::PaperFile> {
    let path = paths::experiments_dir().join("paper.yaml");
    if !path.exists() {
        // Outside a clone: the paper file built into tfkd.
        return Ok(tfkd_spec::paper::data()?.clone());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    tfkd_spec::paper::parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Says, before any work, that a profile substitutes the target's dataset and how the KD weight is kept.
pub fn say_substitution(exp: &Experiment, obs: &mut dyn tfkd_trainers::Observer) {
    if let Some(sub) = exp.substitution() {
        let text = format!("dataset substituted: {sub} (profile {}); {}", exp.profile, exp.kl_note());
        obs.event(&tfkd_trainers::Event::Note { text });
    }
}
