//! From YAML files to resolved runs: `extends` chains, profiles, `--set` overrides, validation.
//!
//! Precedence, lowest first: the `extends` chain (parents first), the spec's global sections, the
//! run entry's own `train`/`model_options`, the profile's global sections, the profile's per-run
//! patch, then `--set key=value` overrides. Every file is parsed on its own first, so unknown keys
//! and wrong types are reported with file, line and column; rules that span fields are checked
//! afterwards and reported all together, each with its path.

mod checks;
mod sweep;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use serde::{de::DeserializeOwned, Serialize};
use serde_yaml::Value;

use tfkd_names::SourceName;

use crate::{
    config::{ModelOptions, RunConfig, TrainConfig},
    error::{SpecError, SpecErrors},
    schema::{DataPatch, KlReduction, Method, ModelPatch, ProfilePatch, RunEntry, Snapshot, SpecFile, TrainPatch},
};

use checks::{
    check_cycles, check_method, check_paper, check_snapshots, check_teacher, fill_paper, kl_classes, resolve_data,
    resolve_train,
};
use sweep::expand_sweeps;
pub use sweep::SWEEP_SEPARATOR;

/// The largest learning rate (at batch 128) a spec may ask for: the official recipe uses 0.1; rates far
/// above 10 turn the loss into NaN within the first steps, which is better said before any work.
pub const MAX_LR: f64 = 10.0;

/// The largest batch a spec may ask for.
pub const MAX_BATCH: usize = 65_536;

/// The most libtorch threads a run may ask for: far above any machine's cores, well below the thousands of
/// threads that make libtorch's thread pool take minutes to start.
pub(super) const MAX_THREADS: usize = 1024;

/// The largest temperature a spec may ask for (the paper's largest is 40).
pub const MAX_TEMPERATURE: f64 = 1000.0;

/// A resolved experiment under one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Target name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The spec file.
    pub file: PathBuf,
    /// Profile in use.
    pub profile: String,
    /// The profile's description.
    pub profile_description: String,
    /// Profiles the spec defines.
    pub profiles: Vec<String>,
    /// The dataset the spec names before any profile (the paper's).
    pub paper_dataset: Option<SourceName>,
    /// Every run, one per entry and seed, in spec order.
    pub runs: Vec<RunConfig>,
    /// The paper table this experiment mirrors.
    pub paper: Option<crate::schema::PaperTable>,
    /// The entries `sweep:` blocks expanded into, per swept entry.
    pub sweeps: Vec<Sweep>,
    /// Claims about the spec's entries (its top-level `claims:`), each with a text; judged by the report.
    pub claims: Vec<crate::ClaimDecl>,
    /// Executor settings by executor name, opaque here: each executor reads and checks its own.
    pub executor: ExecutorSettings,
}

/// Settings of executors by name, carried without being read: the spec's and its profile's (merged, the
/// profile's keys winning) apart from `--set executor.NAME.KEY=VALUE`, so an executor can put its own layers
/// between them (Slurm: a cluster's config file wins over the spec, `--set` over both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutorSettings {
    /// From the spec and its profile.
    pub spec: crate::schema::ExecutorSection,
    /// From `--set executor.NAME.KEY=VALUE`.
    pub sets: crate::schema::ExecutorSection,
}

impl ExecutorSettings {
    /// Executor `name`'s settings from the spec (and profile), then from `--set`: each `Null` when not given.
    #[must_use]
    pub fn of(&self, name: &str) -> [&Value; 2] {
        static NONE: Value = Value::Null;
        [self.spec.get(name).unwrap_or(&NONE), self.sets.get(name).unwrap_or(&NONE)]
    }

    /// The executor names that have settings.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self.spec.keys().chain(self.sets.keys()).map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter()
    }
}

/// The runs a `sweep:` block of one entry expanded into.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The entry's own id.
    pub base: String,
    /// The swept keys (`method.temperature`, …), in the order of the member ids.
    pub keys: Vec<String>,
    /// One member per combination: its entry id and the value of each key (as written in the spec).
    pub members: Vec<(String, Vec<String>)>,
}

impl Experiment {
    /// `Some("X → Y")` when the profile replaced the paper's dataset.
    #[must_use]
    pub fn substitution(&self) -> Option<String> {
        let (paper, used) = (self.paper_dataset?, self.runs.first()?.data.source);
        (paper != used).then(|| format!("{paper} → {used}"))
    }

    /// The class count whose N·K divides the elementwise-mean KL of this experiment's distillation runs when a
    /// substitution keeps the paper's per-example KD weight (see [`RunConfig::kl_classes`]).
    #[must_use]
    pub fn kl_classes(&self) -> Option<usize> {
        self.runs.iter().find_map(|r| r.kl_classes)
    }

    /// [`kl_weight_note`] for this experiment's settings.
    #[must_use]
    pub fn kl_note(&self) -> String {
        if self.runs.iter().all(|r| r.method.kl_reduction().is_none()) {
            return "no run selected here has a KL term, so the class count does not weigh anything".into();
        }
        let used = self.runs.first().and_then(|r| r.data.source.classes());
        kl_weight_note(self.kl_classes(), used, self.paper_dataset.and_then(|d| d.classes()))
    }
}

/// How a substitution treats the KD weight, in words: `kl_classes` is the class count the runs' elementwise-mean
/// KL was divided by (`None`: the official N·K of the data used), `used` and `paper` the class counts of the
/// data used and of the paper's dataset, where known.
#[must_use]
pub fn kl_weight_note(kl_classes: Option<usize>, used: Option<usize>, paper: Option<usize>) -> String {
    match (kl_classes, used, paper) {
        (Some(k_paper), Some(k), _) => format!(
            "the official elementwise-mean KL is divided by N·{k_paper} (the paper's classes) instead of N·{k}, so \
             the per-example KD weight stays the paper's α·T²/{k_paper}"
        ),
        (Some(k_paper), None, _) => format!("the elementwise-mean KL is divided by N·{k_paper}, the paper's classes"),
        (None, Some(k), Some(p)) if k == p => {
            format!("both have {k} classes, so the official per-example KD weight α·T²/{k} is the paper's")
        }
        (None, Some(k), _) => format!(
            "the official elementwise-mean KL divides by N·{k} of the data used, so the per-example KD weight α·T²/{k} \
             differs from the paper's"
        ),
        (None, None, _) => "the official elementwise-mean KL is unchanged".into(),
    }
}

/// Loads `path` (following `extends`), applies `profile` and `sets` (`section.key=value`), and resolves.
pub fn load(path: &Path, profile: &str, sets: &[String]) -> Result<Experiment, SpecErrors> {
    let doc = crate::chain::load_chain(path, &mut Vec::new())?;
    resolve(path, doc, profile, sets)
}

/// As [`load`], from YAML text (no `extends`), for tests and tools.
pub fn load_str(text: &str, file: &Path, profile: &str, sets: &[String]) -> Result<Experiment, SpecErrors> {
    let (_, value) = crate::chain::parse_layer(text, file)?;
    resolve(file, value, profile, sets)
}

fn to_value<T: Serialize>(t: &Option<T>) -> Value {
    t.as_ref().map_or(Value::Null, |t| serde_yaml::to_value(t).unwrap_or(Value::Null))
}

/// Parses `section.key=value` overrides into a profile-shaped patch.
fn parse_sets(sets: &[String], file: &Path) -> Result<ProfilePatch, SpecError> {
    let invalid = |path: &str, message: String| SpecError::Invalid {
        file: file.to_path_buf(),
        path: format!("--set {path}"),
        message,
    };
    let mut root = Value::Mapping(Default::default());
    for set in sets {
        let (key, raw) = set.split_once('=').ok_or_else(|| invalid(set, "expected section.key=value".into()))?;
        let value: Value = serde_yaml::from_str(raw).map_err(|e| invalid(set, crate::error::yaml_message(&e, raw)))?;
        let parts: Vec<&str> = key.split('.').collect();
        if !matches!(parts[0], "dataset" | "train" | "model" | "seeds" | "executor") {
            return Err(invalid(
                set,
                "overridable sections are dataset.*, train.*, model.*, executor.NAME.* and seeds".into(),
            ));
        }
        let nest = |value: Value, parts: &[&str]| {
            parts.iter().rev().fold(value, |patch, part| {
                let mut m = serde_yaml::Mapping::new();
                m.insert(Value::String((*part).to_string()), patch);
                Value::Mapping(m)
            })
        };
        let patch = nest(value, &parts);
        // Each override is checked on its own, so the error names its key, what it expects and, for a whole
        // section given a value (`--set model=resnet50`), the keys it has.
        if let Err(e) = serde_yaml::from_value::<ProfilePatch>(patch.clone()) {
            let keys = match parts.as_slice() {
                [section] if *section != "seeds" => {
                    let probe = nest(Value::Mapping(std::iter::once(("?".into(), Value::Null)).collect()), &parts);
                    let expected = serde_yaml::from_value::<ProfilePatch>(probe)
                        .err()
                        .and_then(|e| e.to_string().split_once("expected ").map(|(_, x)| x.to_string()))
                        .unwrap_or_default();
                    format!("; `{section}` is a section: set one of its keys, `--set {section}.KEY=VALUE` with KEY {expected}")
                }
                _ => String::new(),
            };
            return Err(invalid(set, format!("{e}{keys}")));
        }
        root = crate::chain::merge(root, patch);
    }
    serde_yaml::from_value(root).map_err(|e| invalid(&sets.join(" "), e.to_string()))
}

fn layered<T: Serialize + DeserializeOwned + Default>(layers: &[Value]) -> Result<T, serde_yaml::Error> {
    let merged = layers.iter().cloned().fold(Value::Null, crate::chain::merge);
    if merged.is_null() {
        Ok(T::default())
    } else {
        serde_yaml::from_value(merged)
    }
}

/// The dataset layers (spec, profile, `--set`) with a `path` dropped where a later layer names another source
/// without a path of its own: the path belonged to the replaced source (a smoke profile substituting
/// cifar10-jpeg for a spec's imagefolder at a path would otherwise look for the archive in that folder).
fn data_layers(mut layers: [Value; 3]) -> [Value; 3] {
    let key = |k: &str| Value::String(k.into());
    let mut source: Option<Value> = None;
    for i in 0..layers.len() {
        let Value::Mapping(m) = &layers[i] else { continue };
        // Unset fields serialise as null.
        let set = |k: &str| m.get(key(k)).filter(|v| !v.is_null()).cloned();
        let (new_source, own_path) = (set("source"), set("path").is_some());
        if matches!((&new_source, &source), (Some(s), Some(old)) if s != old) && !own_path {
            for earlier in &mut layers[..i] {
                if let Value::Mapping(e) = earlier {
                    e.remove(key("path"));
                }
            }
        }
        source = new_source.or(source);
    }
    layers
}

const REQUIRED: &str = "is required (set it in the spec or in experiments/defaults.yaml)";

struct Checker<'a> {
    file: &'a Path,
    errors: Vec<SpecError>,
}

impl Checker<'_> {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SpecError::Invalid {
            file: self.file.to_path_buf(),
            path: path.into(),
            message: message.into(),
        });
    }

    /// Merges patch layers (lowest precedence first); a type error is recorded under `path`.
    fn layers<T: Serialize + DeserializeOwned + Default>(&mut self, layers: &[Value], path: &str) -> Option<T> {
        layered(layers).map_err(|e| self.fail(path, e.to_string())).ok()
    }

    fn require<T: Default>(&mut self, value: Option<T>, path: &str) -> T {
        value.unwrap_or_else(|| {
            self.fail(path, REQUIRED);
            T::default()
        })
    }

    fn range(&mut self, ok: bool, path: &str, value: f64, rule: &str) {
        if !ok {
            let shown = if value.abs() >= 1e6 { format!("{value:e}") } else { value.to_string() };
            self.fail(path, format!("{shown} {rule}"));
        }
    }
}

/// One run entry resolved under a profile: its train settings, model options, method and teacher snapshot.
type Resolved<'e> = (&'e RunEntry, TrainConfig, ModelOptions, Method, Option<Snapshot>);

fn resolve(file: &Path, doc: Value, profile: &str, sets: &[String]) -> Result<Experiment, SpecErrors> {
    let spec: SpecFile = serde_yaml::from_value(doc).map_err(|e| SpecError::Invalid {
        file: file.into(),
        path: String::new(),
        message: e.to_string(),
    })?;
    let sets = parse_sets(sets, file)?;
    let mut c = Checker { file, errors: Vec::new() };
    let name = c.require(spec.name.clone(), "name");
    let profiles = spec.profiles.clone().unwrap_or_default();
    let prof = pick_profile(file, &profiles, profile)?;
    let (mut entries, mut sweeps) = expand_sweeps(&mut c, spec.runs.clone().unwrap_or_default());
    let all_ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    if let Some(only) = &prof.only {
        keep_only(&mut c, only, profile, &mut entries, &mut sweeps);
    }
    check_ids(&mut c, &entries, &prof, profile, &all_ids);
    let seeds = sets.seeds.clone().or(prof.seeds.clone()).or(spec.seeds.clone()).unwrap_or_else(|| vec![230]);
    check_seeds(&mut c, &seeds);
    let data_layers = data_layers([to_value(&spec.dataset), to_value(&prof.dataset), to_value(&sets.dataset)]);
    let data_patch: DataPatch = layered(&data_layers).map_err(|e| SpecError::Invalid {
        file: file.into(),
        path: "dataset".into(),
        message: e.to_string(),
    })?;
    let paper_dataset = spec.dataset.as_ref().and_then(|d| d.source);
    let keep_kl_weight = data_patch.keep_paper_kl_weight.unwrap_or(true);
    let data = resolve_data(&mut c, data_patch);
    let resolved: Vec<Resolved<'_>> =
        entries.iter().filter_map(|e| resolve_entry(&mut c, &spec, &prof, &sets, e, &entries, &sweeps)).collect();
    check_snapshots(&mut c, &resolved, profile);
    let mut runs = Vec::new();
    if let Some(data) = &data {
        let kl_classes = kl_classes(paper_dataset, data.source, keep_kl_weight);
        for (entry, train, model_options, method, teacher_snapshot) in &resolved {
            for &seed in &seeds {
                runs.push(RunConfig {
                    id: entry.id.clone(),
                    seed,
                    model: entry.model,
                    method: *method,
                    teacher: entry.teacher.as_ref().and_then(|t| t.run()).map(str::to_string),
                    teacher_weights: entry.teacher.as_ref().and_then(|t| t.weights()).cloned(),
                    teacher_snapshot: *teacher_snapshot,
                    data: data.clone(),
                    train: train.clone(),
                    model_options: model_options.clone(),
                    kl_classes: kl_classes.filter(|_| method.kl_reduction() == Some(KlReduction::ElementwiseMean)),
                });
            }
        }
    }
    check_cycles(&mut c, &entries);
    let (paper, claims) = paper_and_claims(&mut c, &spec, &sweeps, &all_ids)?;
    let executor = ExecutorSettings {
        spec: c.layers(&[to_value(&spec.executor), to_value(&prof.executor)], "executor").unwrap_or_default(),
        sets: sets.executor.clone().unwrap_or_default(),
    };
    if !c.errors.is_empty() {
        return Err(SpecErrors(c.errors));
    }
    Ok(Experiment {
        name,
        title: spec.title.unwrap_or_default(),
        description: spec.description.unwrap_or_default(),
        file: file.to_path_buf(),
        profile: profile.to_string(),
        profile_description: prof.description.unwrap_or_default(),
        profiles: profiles.keys().cloned().collect(),
        paper_dataset,
        runs,
        paper,
        sweeps,
        claims,
        executor,
    })
}

/// The spec's paper table, checked and filled with the paper's numbers, and its own claims about its entries
/// (`all_ids`, every profile's), each checked and given a text.
fn paper_and_claims(
    c: &mut Checker<'_>,
    spec: &SpecFile,
    sweeps: &[Sweep],
    all_ids: &[String],
) -> Result<(Option<crate::schema::PaperTable>, Vec<crate::ClaimDecl>), SpecErrors> {
    let mut paper = spec.paper.clone();
    if let Some(table) = &mut paper {
        check_paper(c, table, sweeps, all_ids)?;
        fill_paper(c, table);
    }
    let mut claims = spec.claims.clone().unwrap_or_default();
    let ids: Vec<&str> = all_ids.iter().map(String::as_str).collect();
    for (path, message) in crate::claims::settle("claims", &ids, &mut claims) {
        c.fail(path, message);
    }
    Ok((paper, claims))
}

/// The profile named `profile`, or an error listing the ones the spec defines.
fn pick_profile(
    file: &Path,
    profiles: &BTreeMap<String, ProfilePatch>,
    profile: &str,
) -> Result<ProfilePatch, SpecErrors> {
    if let Some(p) = profiles.get(profile) {
        return Ok(p.clone());
    }
    let message = if profiles.is_empty() {
        "no such profile: this spec defines no profiles (add `extends: defaults.yaml`, which defines smoke, \
         quick and paper, or a `profiles:` section)"
            .to_string()
    } else {
        format!("no such profile; this spec defines {}", profiles.keys().cloned().collect::<Vec<_>>().join(", "))
    };
    Err(SpecError::Invalid { file: file.into(), path: format!("profiles.{profile}"), message }.into())
}

/// A profile's `only` list: keeps those runs (a swept entry's own id standing for all the runs it expanded
/// into) and their teachers.
fn keep_only(
    c: &mut Checker<'_>,
    only: &[String],
    profile: &str,
    entries: &mut Vec<RunEntry>,
    sweeps: &mut Vec<Sweep>,
) {
    let only: Vec<String> = only
        .iter()
        .flat_map(|id| match sweeps.iter().find(|s| &s.base == id) {
            Some(s) => s.members.iter().map(|m| m.0.clone()).collect(),
            None => vec![id.clone()],
        })
        .collect();
    let teacher_of = |id: &str| entries.iter().find(|e| e.id == id).map(|e| e.teacher.as_ref().and_then(|t| t.run()));
    match crate::select::with_teachers(&only, teacher_of) {
        Ok(keep) => entries.retain(|e| keep.contains(&e.id)),
        Err(id) => c.fail(format!("profiles.{profile}.only"), format!("no run '{id}' in this spec")),
    }
    for s in sweeps.iter_mut() {
        s.members.retain(|m| entries.iter().any(|e| e.id == m.0));
    }
    sweeps.retain(|s| !s.members.is_empty());
}

/// At least one seed, each once (each seed is one run of every entry).
fn check_seeds(c: &mut Checker<'_>, seeds: &[u64]) {
    if seeds.is_empty() {
        c.fail("seeds", "at least one seed is required");
    }
    let mut distinct = BTreeSet::new();
    for seed in seeds.iter().filter(|&&s| !distinct.insert(s)) {
        c.fail("seeds", format!("seed {seed} appears more than once: each seed is one run of every entry"));
    }
}

/// The longest run id: it names the run's record file.
const MAX_ID_LEN: usize = 200;

/// At least one run, no duplicate ids, ids that can name files, and a profile's per-run patches name runs that
/// exist.
fn check_ids(c: &mut Checker<'_>, entries: &[RunEntry], prof: &ProfilePatch, profile: &str, all_ids: &[String]) {
    if entries.is_empty() {
        c.fail("runs", "an experiment needs at least one run");
    }
    let mut seen = BTreeSet::new();
    for e in entries {
        if !seen.insert(e.id.as_str()) {
            c.fail(format!("runs[{}]", e.id), "duplicate run id");
        }
        // An id names its record's file (`<id>-s<seed>.json`), a sweep's point ids included: no path separator,
        // no control character, no leading dot, not empty, and short enough for a file name.
        let bad = |ch: char| ch == '/' || ch == '\\' || ch.is_control();
        if e.id.is_empty() || e.id.starts_with('.') || e.id.contains(bad) || e.id.len() > MAX_ID_LEN {
            c.fail(
                format!("runs[{}]", e.id),
                format!(
                    "{:?} is not a run id: it names the run's record file, so it must be 1 to {MAX_ID_LEN} bytes \
                     without '/', '\\' or control characters, and not start with '.'",
                    e.id
                ),
            );
        }
    }
    for key in prof.runs.as_ref().map(BTreeMap::keys).into_iter().flatten() {
        if !all_ids.contains(key) {
            c.fail(format!("profiles.{profile}.runs.{key}"), format!("no run with this id; runs are {all_ids:?}"));
        }
    }
}

/// One entry's settings layered (spec, entry, profile, the profile's patch for it, `--set`) and checked;
/// `None` when a layer does not parse (the error is recorded).
fn resolve_entry<'e>(
    c: &mut Checker<'_>,
    spec: &SpecFile,
    prof: &ProfilePatch,
    sets: &ProfilePatch,
    entry: &'e RunEntry,
    entries: &[RunEntry],
    sweeps: &[Sweep],
) -> Option<Resolved<'e>> {
    let at = format!("runs[{}]", entry.id);
    let patch = prof.runs.as_ref().and_then(|r| r.get(&entry.id)).cloned().unwrap_or_default();
    let train_layers = [
        to_value(&spec.train),
        to_value(&entry.train),
        to_value(&prof.train),
        to_value(&patch.train),
        to_value(&sets.train),
    ];
    let model_layers = [
        to_value(&spec.model),
        to_value(&entry.model_options),
        to_value(&prof.model),
        to_value(&patch.model_options),
        to_value(&sets.model),
    ];
    let train: Option<TrainPatch> = c.layers(&train_layers, &format!("{at}.train"));
    let model: Option<ModelPatch> = c.layers(&model_layers, &format!("{at}.model_options"));
    let (train, model) = (train?, model?);
    let method = patch.method.unwrap_or(entry.method);
    let teacher_snapshot = patch.teacher_snapshot.or(entry.teacher_snapshot);
    let train = resolve_train(c, train, &at);
    let model_options = ModelOptions {
        width: c.require(model.width, &format!("{at}.model_options.width")),
        googlenet_bn_eps_quirk: model.googlenet_bn_eps_quirk.unwrap_or(false),
    };
    c.range(
        model_options.width > 0.0 && model_options.width <= 4.0,
        &format!("{at}.model_options.width"),
        model_options.width,
        "must lie in (0, 4]",
    );
    check_method(c, &method, &at);
    check_teacher(c, entry, entries, &method, teacher_snapshot, &at);
    if entry.teacher.as_ref().and_then(|t| t.run()).is_some_and(|t| sweeps.iter().any(|s| s.base == t)) {
        c.fail(format!("{at}.teacher"), "a swept entry is many runs; name one of the runs it expanded into");
    }
    Some((entry, train, model_options, method, teacher_snapshot))
}
