//! From YAML files to resolved runs: `extends` chains, profiles, `--set` overrides, validation.
//!
//! Precedence, lowest first: the `extends` chain (parents first), the spec's global sections, the
//! run entry's own `train`/`model_options`, the profile's global sections, the profile's per-run
//! patch, then `--set key=value` overrides. Every file is parsed on its own first, so unknown keys
//! and wrong types are reported with file, line and column; rules that span fields are checked
//! afterwards and reported all together, each with its path.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use serde::{de::DeserializeOwned, Serialize};
use serde_yaml::Value;

use crate::{
    config::{DataConfig, ModelOptions, RunConfig, TrainConfig},
    error::{SpecError, SpecErrors},
    schema::{DataPatch, Method, ModelPatch, ProfilePatch, Snapshot, SpecFile, TrainPatch},
};

/// Source names a spec may use.
pub const SOURCES: [&str; 7] =
    ["cifar10", "cifar100", "cifar10-jpeg", "tiny-imagenet", "imagefolder", "fashion-mnist", "mnist"];
/// Augmentation presets.
pub const AUGMENTS: [&str; 3] = ["cifar", "tiny-imagenet", "none"];
/// Normalisation presets.
pub const NORMALIZATIONS: [&str; 3] = ["cifar-official", "tiny-imagenet-official", "half"];

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
    pub paper_dataset: String,
    /// Every run, one per entry and seed, in spec order.
    pub runs: Vec<RunConfig>,
    /// The paper table this experiment mirrors.
    pub paper: Option<crate::schema::PaperTable>,
}

impl Experiment {
    /// `Some("X → Y")` when the profile replaced the paper's dataset.
    #[must_use]
    pub fn substitution(&self) -> Option<String> {
        let used = &self.runs.first()?.data.source;
        (used != &self.paper_dataset).then(|| format!("{} → {used}", self.paper_dataset))
    }
}

/// Loads `path` (following `extends`), applies `profile` and `sets` (`section.key=value`), and resolves.
pub fn load(path: &Path, profile: &str, sets: &[String]) -> Result<Experiment, SpecErrors> {
    let doc = load_chain(path, &mut Vec::new())?;
    resolve(path, doc, profile, sets)
}

/// As [`load`], from YAML text (no `extends`), for tests and tools.
pub fn load_str(text: &str, file: &Path, profile: &str, sets: &[String]) -> Result<Experiment, SpecErrors> {
    let (_, value) = parse_layer(text, file)?;
    resolve(file, value, profile, sets)
}

fn parse_layer(text: &str, file: &Path) -> Result<(SpecFile, Value), SpecError> {
    let located = |e: serde_yaml::Error| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        // serde_yaml appends " at line L column C"; the location is already in front.
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        SpecError::Parse { file: file.to_path_buf(), line, column, message }
    };
    let typed: SpecFile = serde_yaml::from_str(text).map_err(located)?;
    let value: Value = serde_yaml::from_str(text).map_err(located)?;
    Ok((typed, value))
}

fn load_chain(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Value, SpecError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecError::Read { file: path.to_path_buf(), message: e.to_string() })?;
    let (typed, mut value) = parse_layer(&text, path)?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if seen.contains(&canonical) {
        return Err(SpecError::Invalid {
            file: path.to_path_buf(),
            path: "extends".into(),
            message: "extends chain loops back to this file".into(),
        });
    }
    seen.push(canonical);
    if let Value::Mapping(m) = &mut value {
        m.remove("extends");
    }
    match typed.extends {
        Some(parent) => {
            let parent_path = path.parent().unwrap_or(Path::new(".")).join(parent);
            Ok(merge(load_chain(&parent_path, seen)?, value))
        }
        None => Ok(value),
    }
}

/// Deep merge: mappings merge key by key, `null` leaves the base unchanged, anything else replaces it.
#[must_use]
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (base, Value::Null) => base,
        (Value::Mapping(mut a), Value::Mapping(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Mapping(a)
        }
        (_, over) => over,
    }
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
        let value: Value = serde_yaml::from_str(raw).map_err(|e| invalid(set, e.to_string()))?;
        let parts: Vec<&str> = key.split('.').collect();
        if !matches!(parts[0], "dataset" | "train" | "model" | "seeds") {
            return Err(invalid(set, "overridable sections are dataset.*, train.*, model.* and seeds".into()));
        }
        let mut patch = value;
        for part in parts.iter().rev() {
            let mut m = serde_yaml::Mapping::new();
            m.insert(Value::String((*part).to_string()), patch);
            patch = Value::Mapping(m);
        }
        root = merge(root, patch);
    }
    serde_yaml::from_value(root).map_err(|e| invalid(&sets.join(" "), e.to_string()))
}

fn layered<T: Serialize + DeserializeOwned + Default>(layers: &[Value]) -> Result<T, serde_yaml::Error> {
    let merged = layers.iter().cloned().fold(Value::Null, merge);
    if merged.is_null() {
        Ok(T::default())
    } else {
        serde_yaml::from_value(merged)
    }
}

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
            self.fail(path, "is required (set it in the spec or in experiments/defaults.yaml)");
            T::default()
        })
    }

    fn range(&mut self, ok: bool, path: &str, value: f64, rule: &str) {
        if !ok {
            self.fail(path, format!("{value} {rule}"));
        }
    }
}

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
    let prof = match profiles.get(profile) {
        Some(p) => p.clone(),
        None => {
            let known: Vec<&String> = profiles.keys().collect();
            return Err(SpecError::Invalid {
                file: file.into(),
                path: format!("profiles.{profile}"),
                message: format!("no such profile; this spec defines {known:?}"),
            }
            .into());
        }
    };
    let mut entries = spec.runs.clone().unwrap_or_default();
    let all_ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    if let Some(only) = &prof.only {
        let teacher_of = |id: &str| entries.iter().find(|e| e.id == id).map(|e| e.teacher.as_deref());
        match crate::graph::with_teachers(only, teacher_of) {
            Ok(keep) => entries.retain(|e| keep.contains(&e.id)),
            Err(id) => c.fail(format!("profiles.{profile}.only"), format!("no run '{id}' in this spec")),
        }
    }
    if entries.is_empty() {
        c.fail("runs", "an experiment needs at least one run");
    }
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    for id in &ids {
        if !seen.insert(*id) {
            c.fail(format!("runs[{id}]"), "duplicate run id");
        }
    }
    for key in prof.runs.as_ref().map(BTreeMap::keys).into_iter().flatten() {
        if !all_ids.contains(key) {
            c.fail(format!("profiles.{profile}.runs.{key}"), format!("no run with this id; runs are {all_ids:?}"));
        }
    }
    let seeds = sets.seeds.clone().or(prof.seeds.clone()).or(spec.seeds.clone()).unwrap_or_else(|| vec![230]);
    if seeds.is_empty() {
        c.fail("seeds", "at least one seed is required");
    }
    let data_patch: DataPatch =
        layered(&[to_value(&spec.dataset), to_value(&prof.dataset), to_value(&sets.dataset)])
            .map_err(|e| SpecError::Invalid { file: file.into(), path: "dataset".into(), message: e.to_string() })?;
    let paper_dataset = spec.dataset.as_ref().and_then(|d| d.source.clone()).unwrap_or_default();
    let data = resolve_data(&mut c, data_patch);
    let mut runs = Vec::new();
    for entry in &entries {
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
        let (Some(train), Some(model)) = (train, model) else {
            continue;
        };
        let method = patch.method.unwrap_or(entry.method);
        let teacher_snapshot = patch.teacher_snapshot.or(entry.teacher_snapshot);
        let train = resolve_train(&mut c, train, &at);
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
        check_method(&mut c, &method, &at);
        check_teacher(&mut c, entry, &entries, &method, teacher_snapshot, &at);
        for &seed in &seeds {
            runs.push(RunConfig {
                id: entry.id.clone(),
                seed,
                model: entry.model.clone(),
                method,
                teacher: entry.teacher.clone(),
                teacher_snapshot,
                data: data.clone(),
                train: train.clone(),
                model_options: model_options.clone(),
            });
        }
    }
    check_cycles(&mut c, &entries);
    if let Some(table) = &spec.paper {
        let Some(layout) = table.layout else {
            return Err(SpecError::Invalid {
                file: file.into(),
                path: "paper.layout".into(),
                message: "is required: re-kd, de-kd, tf-self or tf-reg".into(),
            }
            .into());
        };
        for (i, row) in table.rows.iter().enumerate() {
            for (col, cell) in &row.cells {
                let at = format!("paper.rows[{i}].cells.{col}");
                if !layout.columns().contains(&col.as_str()) {
                    c.fail(&at, format!("not a column of this layout; columns are {:?}", layout.columns()));
                }
                for id in cell.run.iter().chain(&cell.teacher_of) {
                    if !all_ids.contains(id) {
                        c.fail(&at, format!("no run '{id}' in this spec"));
                    }
                }
                if cell.run.is_some() && cell.teacher_of.is_some() {
                    c.fail(&at, "give `run` or `teacher_of`, not both");
                }
            }
        }
    }
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
        paper: spec.paper,
    })
}

fn resolve_data(c: &mut Checker<'_>, d: DataPatch) -> DataConfig {
    let source = c.require(d.source, "dataset.source");
    if !source.is_empty() && !SOURCES.contains(&source.as_str()) {
        c.fail("dataset.source", format!("unknown source '{source}'; expected one of {}", SOURCES.join(", ")));
    }
    let augment = c.require(d.augment, "dataset.augment");
    if !augment.is_empty() && !AUGMENTS.contains(&augment.as_str()) {
        c.fail("dataset.augment", format!("unknown augmentation '{augment}'; expected one of {}", AUGMENTS.join(", ")));
    }
    let normalize = c.require(d.normalize, "dataset.normalize");
    if !normalize.is_empty() && !NORMALIZATIONS.contains(&normalize.as_str()) {
        c.fail(
            "dataset.normalize",
            format!("unknown normalisation '{normalize}'; expected one of {}", NORMALIZATIONS.join(", ")),
        );
    }
    let augment_off = d.augment_off.unwrap_or_default();
    for op in &augment_off {
        if !matches!(op.as_str(), "crop" | "flip" | "rotate") {
            c.fail("dataset.augment_off", format!("unknown augmentation step '{op}'; expected crop, flip or rotate"));
        }
    }
    let interpolation = d.interpolation.unwrap_or_else(|| "nearest".into());
    if !matches!(interpolation.as_str(), "nearest" | "bilinear") {
        c.fail(
            "dataset.interpolation",
            format!("unknown interpolation '{interpolation}'; expected nearest or bilinear"),
        );
    }
    DataConfig {
        source,
        path: d.path,
        val_size: d.val_size.unwrap_or(0),
        train_subset: d.train_subset,
        test_subset: d.test_subset,
        augment,
        augment_off,
        interpolation,
        normalize,
        image_size: d.image_size,
        prefetch: d.prefetch.unwrap_or(2),
    }
}

fn resolve_train(c: &mut Checker<'_>, t: TrainPatch, at: &str) -> TrainConfig {
    let p = |k: &str| format!("{at}.train.{k}");
    let train = TrainConfig {
        epochs: c.require(t.epochs, &p("epochs")),
        batch_size: c.require(t.batch_size, &p("batch_size")),
        lr: c.require(t.lr, &p("lr")),
        lr_batch_scaling: c.require(t.lr_batch_scaling, &p("lr_batch_scaling")),
        momentum: c.require(t.momentum, &p("momentum")),
        weight_decay: c.require(t.weight_decay, &p("weight_decay")),
        nesterov: t.nesterov.unwrap_or(false),
        warmup_epochs: t.warmup_epochs.unwrap_or(0),
        milestones: t.milestones.unwrap_or_default(),
        gamma: t.gamma.unwrap_or(1.0),
        threads: t.threads.unwrap_or(0),
        precision: t.precision.unwrap_or_else(|| "fp32".into()),
    };
    if !matches!(train.precision.as_str(), "fp32" | "bf16") {
        c.fail(p("precision"), format!("unknown precision '{}'; expected fp32 or bf16", train.precision));
    }
    if train.epochs == 0 {
        c.fail(p("epochs"), "must be >= 1");
    }
    if train.batch_size == 0 {
        c.fail(p("batch_size"), "must be >= 1");
    }
    c.range(train.lr > 0.0 && train.lr.is_finite(), &p("lr"), train.lr, "must be > 0");
    c.range((0.0..1.0).contains(&train.momentum), &p("momentum"), train.momentum, "must lie in [0, 1)");
    c.range(train.weight_decay >= 0.0, &p("weight_decay"), train.weight_decay, "must be >= 0");
    c.range(train.gamma > 0.0 && train.gamma <= 1.0, &p("gamma"), train.gamma, "must lie in (0, 1]");
    if train.warmup_epochs >= train.epochs && train.epochs > 0 && train.warmup_epochs > 0 {
        c.fail(
            p("warmup_epochs"),
            format!("{} warm-up epochs leave no training in {} epochs", train.warmup_epochs, train.epochs),
        );
    }
    if train.milestones.iter().any(|m| !(*m > 0.0 && *m <= 1.0)) || train.milestones.windows(2).any(|w| w[0] >= w[1]) {
        c.fail(p("milestones"), format!("{:?} must be increasing fractions in (0, 1]", train.milestones));
    }
    train
}

fn check_method(c: &mut Checker<'_>, m: &Method, at: &str) {
    let p = |k: &str| format!("{at}.method.{k}");
    let (alpha, temperature) = match *m {
        Method::Baseline {} => (None, None),
        Method::Kd { alpha, temperature, .. }
        | Method::ReKd { alpha, temperature, .. }
        | Method::DeKd { alpha, temperature, .. } => (Some(alpha), Some(temperature)),
        Method::Lsr { epsilon, .. } => {
            c.range((0.0..=1.0).contains(&epsilon), &p("epsilon"), epsilon, "must lie in [0, 1]");
            (None, None)
        }
        Method::TfKdSelf { alpha, temperature, multiplier, .. } => {
            c.range(multiplier >= 0.0 && multiplier.is_finite(), &p("multiplier"), multiplier, "must be >= 0");
            (Some(alpha), Some(temperature))
        }
        Method::TfKdReg { alpha, temperature, correct_prob, multiplier, .. } => {
            c.range(multiplier >= 0.0 && multiplier.is_finite(), &p("multiplier"), multiplier, "must be >= 0");
            c.range((0.0..=1.0).contains(&correct_prob), &p("correct_prob"), correct_prob, "must lie in [0, 1]");
            (Some(alpha), Some(temperature))
        }
    };
    if let Some(a) = alpha {
        c.range((0.0..=1.0).contains(&a), &p("alpha"), a, "must lie in [0, 1]");
    }
    if let Some(t) = temperature {
        c.range(t > 0.0 && t.is_finite(), &p("temperature"), t, "must be > 0");
    }
}

fn check_teacher(
    c: &mut Checker<'_>,
    entry: &crate::schema::RunEntry,
    entries: &[crate::schema::RunEntry],
    method: &Method,
    snapshot: Option<Snapshot>,
    at: &str,
) {
    match (&entry.teacher, method.needs_teacher()) {
        (None, true) => c.fail(format!("{at}.teacher"), format!("method {} needs a teacher run", method.name())),
        (Some(_), false) => c.fail(format!("{at}.teacher"), format!("method {} takes no teacher", method.name())),
        (Some(t), true) => match entries.iter().find(|e| &e.id == t) {
            None => c.fail(format!("{at}.teacher"), format!("no run '{t}' in this spec")),
            Some(teacher) => {
                if matches!(method, Method::TfKdSelf { .. }) && teacher.model != entry.model {
                    c.fail(
                        format!("{at}.teacher"),
                        format!(
                            "Tf-KD_self needs a teacher of the same model ({}), got {}",
                            entry.model, teacher.model
                        ),
                    );
                }
            }
        },
        (None, false) => {}
    }
    match snapshot {
        Some(_) if entry.teacher.is_none() => {
            c.fail(format!("{at}.teacher_snapshot"), "only runs with a teacher can choose its snapshot")
        }
        Some(Snapshot::Epoch(0)) => c.fail(format!("{at}.teacher_snapshot.epoch"), "epochs count from 1"),
        Some(Snapshot::Accuracy(a)) if !(0.0..=1.0).contains(&a) => {
            c.fail(format!("{at}.teacher_snapshot.accuracy"), format!("{a} must lie in [0, 1]"))
        }
        _ => {}
    }
}

fn check_cycles(c: &mut Checker<'_>, entries: &[crate::schema::RunEntry]) {
    for e in entries {
        let mut cur = e;
        let mut steps = 0;
        while let Some(t) = &cur.teacher {
            let Some(next) = entries.iter().find(|x| &x.id == t) else { break };
            steps += 1;
            if next.id == e.id || steps > entries.len() {
                c.fail(
                    format!("runs[{}].teacher", e.id),
                    "teacher chain runs into a cycle: no run can (indirectly) teach itself",
                );
                break;
            }
            cur = next;
        }
    }
}
