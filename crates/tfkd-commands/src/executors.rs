//! The executors by name: [`implementation`] maps the CLI's [`ExecutorName`] to its [`Executor`], and
//! [`columns`] asks every one what it knows of a plan's runs (for `tfkd status`).

use std::collections::BTreeMap;

use anyhow::Context as _;
use tfkd_spec::Experiment;
use tfkd_trainers::engine::Plan;

use crate::{
    executor::{Executor, Local},
    options::{ExecutorName, Flag, UnknownExecutor},
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

/// The `--executor` choices that take `flag`, as a user would write them ("--executor slurm").
#[must_use]
pub fn taking(flag: Flag) -> String {
    let names: Vec<String> = ExecutorName::ALL
        .into_iter()
        .filter(|&e| e.listed() && implementation(e).flags().contains(&flag))
        .map(|e| format!("--executor {e}"))
        .collect();
    names.join(" or ")
}

/// Checks `exp`'s executor settings when it is loaded: each names an executor, and that executor takes them
/// ([`Executor::check_settings`]). The spec carries them without reading them.
pub fn check_settings(exp: &Experiment) -> anyhow::Result<()> {
    for name in exp.executor.names() {
        let executor: ExecutorName = name
            .parse()
            .map_err(|e: UnknownExecutor| anyhow::anyhow!("{}: executor.{name}: {e}", exp.file.display()))?;
        implementation(executor).check_settings(exp).with_context(|| exp.file.display().to_string())?;
    }
    Ok(())
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

    /// Slurm's flags are Slurm's alone, and the refusal names the executor that takes each.
    #[test]
    fn each_flag_is_taken_by_the_executors_that_declare_it() {
        for flag in [Flag::DryRun, Flag::Wait, Flag::SlurmConfig] {
            assert_eq!(taking(flag), "--executor slurm");
            for other in ExecutorName::ALL.into_iter().filter(|&e| e != ExecutorName::Slurm) {
                assert!(!implementation(other).flags().contains(&flag), "{other} takes {}", flag.name());
            }
        }
    }

    fn load(executor: &str, sets: &[&str]) -> anyhow::Result<Experiment> {
        let spec = format!(
            "name: t\ndataset: {{ source: cifar10-jpeg, augment: none, normalize: half }}\n\
             train: {{ epochs: 1, batch_size: 8, lr: 0.1, lr_batch_scaling: true, momentum: 0.9, weight_decay: 0.0 }}\n\
             model: {{ width: 1.0 }}\nruns: [{{ id: a, model: cnn5, method: {{ kind: baseline }} }}]\n\
             profiles: {{ p: {{}} }}\n{executor}"
        );
        let sets: Vec<String> = sets.iter().map(ToString::to_string).collect();
        let exp = tfkd_spec::load_str(&spec, std::path::Path::new("t.yaml"), "p", &sets)?;
        check_settings(&exp)?;
        Ok(exp)
    }

    /// The spec carries executor settings unread; each executor checks its own when the spec is loaded.
    #[test]
    fn executor_settings_are_checked_by_their_executor() {
        let exp =
            load("executor: { slurm: { partition: gpu, time: \"1:00:00\" } }", &["executor.slurm.mem=8G"]).unwrap();
        let [spec, sets] = exp.executor.of("slurm");
        assert_eq!(spec["partition"], serde_yaml::Value::from("gpu"));
        assert_eq!(sets["mem"], serde_yaml::Value::from("8G"));
        let err = |executor: &str, sets: &[&str]| format!("{:#}", load(executor, sets).unwrap_err());
        let typo = err("executor: { slurm: { partiton: gpu } }", &[]);
        assert!(typo.contains("executor.slurm") && typo.contains("unknown field `partiton`"), "{typo}");
        let bad_set = err("", &["executor.slurm.time=2h"]);
        assert!(bad_set.contains("executor.slurm.time: '2h'"), "{bad_set}");
        let none = err("executor: { local: { threads: 2 } }", &[]);
        assert!(none.contains("the local executor takes no settings"), "{none}");
        let unknown = err("executor: { ray: { address: auto } }", &[]);
        assert!(unknown.contains("executor.ray: unknown executor 'ray'"), "{unknown}");
    }

    /// Each name selects the implementation that calls itself by it.
    #[test]
    fn names_select_their_implementation() {
        for name in ExecutorName::ALL {
            assert_eq!(implementation(name).name(), name.name());
        }
    }
}
