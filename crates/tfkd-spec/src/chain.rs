//! A spec's `extends` chain: each file parsed as a layer, its parent found, the layers merged. A parent named in
//! `extends:` is looked for beside the spec, then in the project's `experiments/` (`$TFKD_EXPERIMENTS_DIR`),
//! then among the defaults built into the binary, so a spec in any folder can `extends: defaults.yaml` and an
//! installed `tfkd` works outside a clone.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::{error::SpecError, schema::SpecFile};

/// The folder name built-in defaults are shown under.
const BUILT_IN_DIR: &str = "<built into tfkd>";

/// The shared defaults compiled into the binary, by file name.
const BUILT_IN: [(&str, &str); 2] = [
    ("defaults.yaml", include_str!("../../../experiments/defaults.yaml")),
    ("imagenet-defaults.yaml", include_str!("../../../experiments/imagenet-defaults.yaml")),
];

/// The built-in text of `path`, when it names a built-in default.
fn built_in(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    (path.parent()? == Path::new(BUILT_IN_DIR)).then_some(())?;
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// The project's experiments folder: `$TFKD_EXPERIMENTS_DIR`, or `experiments` under the working folder.
fn experiments_dir() -> PathBuf {
    std::env::var_os("TFKD_EXPERIMENTS_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("experiments"), PathBuf::from)
}

/// Where `extends: parent` of the spec at `path` is: beside it, in the project's experiments folder, or built
/// in; `Err` lists every place looked.
fn find_parent(path: &Path, parent: &str) -> Result<PathBuf, Vec<String>> {
    let beside = path.parent().unwrap_or(Path::new(".")).join(parent);
    let project = experiments_dir().join(parent);
    for candidate in [&beside, &project] {
        if candidate.is_file() {
            return Ok(candidate.clone());
        }
    }
    let inside = Path::new(BUILT_IN_DIR).join(parent);
    if built_in(&inside).is_some() {
        return Ok(inside);
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    Err(vec![
        format!("{} (beside this file)", beside.display()),
        format!("{} (the project's experiments)", project.display()),
        format!("the defaults built into tfkd ({})", names.join(", ")),
    ])
}

/// Parses one spec file's text: typed (unknown keys refused with their line and column) and as a YAML value.
pub(crate) fn parse_layer(text: &str, file: &Path) -> Result<(SpecFile, Value), SpecError> {
    // A UTF-8 byte-order mark, as some Windows editors write: not part of the YAML (serde_yaml would read the
    // file as two documents).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(SpecError::Parse {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: "the file is empty: a spec needs `name`, `runs` and `profiles` (or `extends: defaults.yaml`, \
                      which defines the smoke, quick and paper profiles)"
                .into(),
        });
    }
    let located = |e: serde_yaml::Error| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        SpecError::Parse { file: file.to_path_buf(), line, column, message: crate::error::yaml_message(&e, text) }
    };
    let typed: SpecFile = serde_yaml::from_str(text).map_err(located)?;
    let value: Value = serde_yaml::from_str(text).map_err(located)?;
    Ok((typed, value))
}

/// Reads `path` and the files its `extends` chain names, merged (the file's own settings on top).
pub(crate) fn load_chain(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Value, SpecError> {
    let text = match built_in(path) {
        Some(text) => text.to_string(),
        None => std::fs::read_to_string(path)
            .map_err(|e| SpecError::Read { file: path.to_path_buf(), message: e.to_string() })?,
    };
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
        Some(parent) => match find_parent(path, &parent) {
            Ok(parent_path) => Ok(merge(load_chain(&parent_path, seen)?, value)),
            Err(looked) => {
                let line = text.lines().position(|l| l.trim_start().starts_with("extends:")).map_or(0, |i| i + 1);
                Err(SpecError::Parse {
                    file: path.to_path_buf(),
                    line,
                    column: 1,
                    message: format!("extends: no spec file {parent}; looked for {}", looked.join(", ")),
                })
            }
        },
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
