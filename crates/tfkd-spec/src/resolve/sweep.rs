//! Sweeps: a run entry whose values are lists expands into one entry per combination, each with its own id
//! (`base+key=value`), and the [`super::Sweep`] that groups them for the report.

use serde_yaml::Value;

use crate::schema::RunEntry;

use super::{Checker, Sweep};

/// Separator between a swept entry's id and each `key=value` of its combination.
pub const SWEEP_SEPARATOR: char = '+';

/// Expands every entry with a `sweep:` block into one entry per combination of its values (a grid), with
/// ids `<id>+<key>=<value>…` (key: the last part of the swept path). Keys are paths into the entry:
/// `method.<field>`, `train.<field>` or `model_options.<field>`.
pub(super) fn expand_sweeps(c: &mut Checker<'_>, entries: Vec<RunEntry>) -> (Vec<RunEntry>, Vec<Sweep>) {
    let mut out = Vec::new();
    let mut sweeps = Vec::new();
    for mut entry in entries {
        let Some(grid) = entry.sweep.take() else {
            out.push(entry);
            continue;
        };
        let at = format!("runs[{}].sweep", entry.id);
        let mut ok = !grid.is_empty();
        if grid.is_empty() {
            c.fail(&at, "lists no keys to sweep");
        }
        for (key, values) in &grid {
            if !["method.", "train.", "model_options."].iter().any(|p| key.starts_with(p))
                || key.split('.').count() != 2
            {
                c.fail(format!("{at}.{key}"), "expected method.<field>, train.<field> or model_options.<field>");
                ok = false;
            }
            if values.is_empty() {
                c.fail(format!("{at}.{key}"), "lists no values");
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        let keys: Vec<String> = grid.keys().cloned().collect();
        let base = serde_yaml::to_value(&entry).unwrap_or(Value::Null);
        let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
        for key in &keys {
            combos = combos
                .into_iter()
                .flat_map(|prefix| grid[key].iter().map(move |v| [prefix.clone(), vec![v.clone()]].concat()))
                .collect();
        }
        let mut sweep = Sweep { base: entry.id.clone(), keys: keys.clone(), members: Vec::new() };
        for combo in combos {
            let mut value = base.clone();
            let texts: Vec<String> = combo.iter().map(yaml_text).collect();
            let suffix: Vec<String> =
                keys.iter().zip(&texts).map(|(k, t)| format!("{}={t}", k.rsplit('.').next().unwrap_or(k))).collect();
            let id = format!("{}{SWEEP_SEPARATOR}{}", entry.id, suffix.join(&SWEEP_SEPARATOR.to_string()));
            for (key, v) in keys.iter().zip(combo) {
                let (section, field) = key.split_once('.').unwrap_or((key, ""));
                set_path(&mut value, section, field, v);
            }
            set_path(&mut value, "id", "", Value::String(id.clone()));
            match serde_yaml::from_value::<RunEntry>(value) {
                Ok(e) => {
                    out.push(e);
                    sweep.members.push((id, texts));
                }
                Err(e) => c.fail(format!("{at} ({id})"), e.to_string()),
            }
        }
        sweeps.push(sweep);
    }
    (out, sweeps)
}

/// A scalar as the spec wrote it (`20`, `0.99`, `paper-eq9`).
pub(super) fn yaml_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// Sets `section.field` (or the top-level `section` when `field` is empty) in a mapping, creating `section`.
pub(super) fn set_path(value: &mut Value, section: &str, field: &str, v: Value) {
    let Value::Mapping(m) = value else { return };
    let key = Value::String(section.to_string());
    if field.is_empty() {
        m.insert(key, v);
        return;
    }
    let inner = m.entry(key).or_insert_with(|| Value::Mapping(Default::default()));
    if inner.is_null() {
        *inner = Value::Mapping(Default::default());
    }
    if let Value::Mapping(inner) = inner {
        inner.insert(Value::String(field.to_string()), v);
    }
}
