//! The executors by name: [`implementation`] maps the CLI's [`ExecutorName`] to its [`Executor`], and
//! [`columns`] asks every one what it knows of a plan's runs (for `tfkd status`).

use std::collections::BTreeMap;

use tfkd_trainers::engine::Plan;

use crate::{
    executor::{Executor, Local},
    options::ExecutorName,
    shell::Shell,
    slurm::Slurm,
};

/// The implementation `name` selects.
#[must_use]
pub fn implementation(name: ExecutorName) -> &'static dyn Executor {
    match name {
        ExecutorName::Local => &Local,
        ExecutorName::Slurm => &Slurm,
        ExecutorName::Shell => &Shell,
    }
}

/// What every executor knows of `plan`'s runs, merged by run id, for `tfkd status`.
#[must_use]
pub fn columns(plan: &Plan) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for name in ExecutorName::ALL {
        for (run, text) in implementation(name).column(plan).unwrap_or_default() {
            out.entry(run).and_modify(|t| *t = format!("{t}; {text}")).or_insert(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name selects the implementation that calls itself by it.
    #[test]
    fn names_select_their_implementation() {
        for name in ExecutorName::ALL {
            assert_eq!(implementation(name).name(), name.name());
        }
    }
}
