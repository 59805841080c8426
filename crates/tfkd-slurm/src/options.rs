//! The job settings of `--executor slurm`, layered and validated before anything is submitted.
//!
//! Layers, lowest first: the spec's `executor: { slurm: … }` section, its profile's, the cluster's config file
//! and `--set executor.slurm.KEY=VALUE` (the last two both say how *this* cluster is used, so they win over the
//! spec). The spec carries the section without reading it; [`SlurmPatch::from_value`] reads it here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SlurmError};

/// Slurm job settings for `--executor slurm`, as a spec's `executor: { slurm: … }` section, a profile's, a
/// cluster's config file and `--set executor.slurm.KEY=VALUE` give them (patching in that order). Every field is
/// optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmPatch {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` of each task, in Slurm's syntax (`MM`, `HH:MM:SS`, `D-HH:MM`, …).
    pub time: Option<String>,
    /// `--gres`, e.g. `gpu:1` (one GPU per task: a run, or a fused array of runs).
    pub gres: Option<String>,
    /// `--cpus-per-task`: libtorch and augmentation threads of each task when `train.threads` is 0.
    pub cpus_per_task: Option<u32>,
    /// `--mem`, e.g. `16G`.
    pub mem: Option<String>,
    /// Tasks of one job array running at once (`--array=…%N`).
    pub throttle: Option<u32>,
    /// Seconds before the time limit at which Slurm sends SIGUSR1, so the task checkpoints and requeues
    /// itself (`--signal=B:USR1@N`; 0 = none).
    pub signal_grace: Option<u32>,
    /// Further `#SBATCH` lines, verbatim (e.g. `--constraint=a100`).
    pub extra: Option<Vec<String>>,
    /// Shell lines each task runs before training (e.g. `module load cuda/12.4`).
    pub setup: Option<Vec<String>>,
}

impl SlurmPatch {
    /// The settings in `value` (`Null`: none), which came from `origin` (e.g. the spec, or `--set`).
    ///
    /// # Errors
    /// [`SlurmError::Section`]: not a mapping of this struct's keys (an unknown key is named with the known ones).
    pub fn from_value(value: &serde_yaml::Value, origin: &str) -> Result<SlurmPatch> {
        if value.is_null() {
            return Ok(SlurmPatch::default());
        }
        serde_yaml::from_value(value.clone())
            .map_err(|e| SlurmError::Section { origin: origin.to_string(), message: e.to_string() })
    }
}

/// Seconds before the time limit at which a task is told to checkpoint and requeue, unless set.
pub const DEFAULT_SIGNAL_GRACE: u32 = 120;

/// Validated Slurm settings; `None` leaves a setting to the cluster's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`, as written, and in seconds (`None` in seconds: unlimited).
    pub time: Option<(String, Option<u64>)>,
    /// `--gres`.
    pub gres: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--mem`.
    pub mem: Option<String>,
    /// Tasks of an array at once (`%N`).
    pub throttle: Option<u32>,
    /// `--signal=B:USR1@N` (0: none).
    pub signal_grace: u32,
    /// Verbatim `#SBATCH` lines.
    pub extra: Vec<String>,
    /// Shell lines run before the worker.
    pub setup: Vec<String>,
}

impl SlurmOptions {
    /// Merges `layers` (lowest precedence first) and validates the result.
    pub fn resolve(layers: &[&SlurmPatch]) -> Result<Self> {
        let mut p = SlurmPatch::default();
        for l in layers {
            macro_rules! take {
                ($($f:ident),*) => { $( if l.$f.is_some() { p.$f = l.$f.clone(); } )* };
            }
            take!(partition, account, qos, time, gres, cpus_per_task, mem, throttle, signal_grace, extra, setup);
        }
        let word = |key: &'static str, v: Option<String>| -> Result<Option<String>> {
            match v {
                Some(s) if s.trim().is_empty() => Err(SlurmError::Setting {
                    key,
                    message: "is empty (remove the key to use the cluster's default)".into(),
                }),
                Some(s) if s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"') => {
                    Err(SlurmError::Setting { key, message: format!("{s:?} holds whitespace or quotes") })
                }
                other => Ok(other),
            }
        };
        let lines = |key: &'static str, v: Option<Vec<String>>| -> Result<Vec<String>> {
            let v = v.unwrap_or_default();
            if let Some(bad) = v.iter().find(|l| l.contains('\n') || l.contains('\r')) {
                return Err(SlurmError::Setting { key, message: format!("{bad:?}: one line per entry") });
            }
            Ok(v)
        };
        let time = match word("time", p.time)? {
            Some(t) => {
                let secs = parse_time(&t).map_err(|e| SlurmError::Setting { key: "time", message: e.to_string() })?;
                Some((t, secs))
            }
            None => None,
        };
        if p.cpus_per_task == Some(0) {
            return Err(SlurmError::Setting { key: "cpus_per_task", message: "must be at least 1".into() });
        }
        if p.throttle == Some(0) {
            return Err(SlurmError::Setting { key: "throttle", message: "must be at least 1 task at once".into() });
        }
        let extra = lines("extra", p.extra)?;
        if let Some(bad) = extra.iter().find(|l| !l.trim_start().starts_with('-')) {
            return Err(SlurmError::Setting {
                key: "extra",
                message: format!("{bad:?} is not an sbatch option (write e.g. `--constraint=a100`)"),
            });
        }
        Ok(SlurmOptions {
            partition: word("partition", p.partition)?,
            account: word("account", p.account)?,
            qos: word("qos", p.qos)?,
            time,
            gres: word("gres", p.gres)?,
            cpus_per_task: p.cpus_per_task,
            mem: word("mem", p.mem)?,
            throttle: p.throttle,
            signal_grace: p.signal_grace.unwrap_or(DEFAULT_SIGNAL_GRACE),
            extra,
            setup: lines("setup", p.setup)?,
        })
    }

    /// Whether tasks ask for a GPU (`gres` names one).
    #[must_use]
    pub fn wants_gpu(&self) -> bool {
        self.gres.as_deref().is_some_and(|g| g.split(',').any(|r| r.starts_with("gpu")))
    }
}

/// A time limit Slurm would not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTime {
    /// Not in any of Slurm's forms.
    #[error("'{0}' is not a Slurm time limit (minutes, HH:MM:SS, D-HH:MM, …)")]
    Form(String),
    /// Zero.
    #[error("'{0}' is no time at all")]
    Zero(String),
}

/// Seconds of a Slurm time limit: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`; `UNLIMITED`/`INFINITE`
/// give `None`.
///
/// # Errors
/// [`BadTime`].
pub fn parse_time(t: &str) -> std::result::Result<Option<u64>, BadTime> {
    if matches!(t.to_ascii_uppercase().as_str(), "UNLIMITED" | "INFINITE") {
        return Ok(None);
    }
    let bad = || BadTime::Form(t.to_string());
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, t),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<std::result::Result<_, _>>()?;
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(d), [h]) => d * 86400 + h * 3600,
        (Some(d), [h, m]) => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) => d * 86400 + h * 3600 + m * 60 + s,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(BadTime::Zero(t.to_string()));
    }
    Ok(Some(secs))
}

/// The cluster's config file: `explicit` (from `--slurm-config`), else `$TFKD_SLURM_CONFIG`, else
/// `slurm.yaml` in the project root, else `$XDG_CONFIG_HOME/tfkd/slurm.yaml` (`~/.config/…`); the first
/// that is given or exists.
#[must_use]
pub fn config_path(explicit: Option<&Path>, project_root: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TFKD_SLURM_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let home_config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("tfkd/slurm.yaml"));
    project_root.map(|r| r.join("slurm.yaml")).into_iter().chain(home_config).find(|p| p.is_file())
}

/// Reads a config file: the keys of a spec's `executor: { slurm: … }` section, at the top level.
pub fn load_config(path: &Path) -> Result<SlurmPatch> {
    let err = |message: String| SlurmError::Config { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(SlurmPatch::default());
    }
    serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_in_every_slurm_form() {
        assert_eq!(parse_time("30"), Ok(Some(1800)));
        assert_eq!(parse_time("5:30"), Ok(Some(330)));
        assert_eq!(parse_time("02:00:00"), Ok(Some(7200)));
        assert_eq!(parse_time("1-12"), Ok(Some(129_600)));
        assert_eq!(parse_time("1-0:30"), Ok(Some(88_200)));
        assert_eq!(parse_time("2-01:00:05"), Ok(Some(176_405)));
        assert_eq!(parse_time("UNLIMITED"), Ok(None));
        for bad in ["", "1h", "1:2:3:4", "-5", "0", "1-2-3", "a:b"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn later_layers_win_and_bad_values_are_named() {
        let spec = SlurmPatch { time: Some("04:00:00".into()), gres: Some("gpu:1".into()), ..Default::default() };
        let cluster =
            SlurmPatch { partition: Some("gpu".into()), time: Some("1-00:00:00".into()), ..Default::default() };
        let o = SlurmOptions::resolve(&[&spec, &cluster]).unwrap();
        assert_eq!(o.partition.as_deref(), Some("gpu"));
        assert_eq!(o.time, Some(("1-00:00:00".into(), Some(86_400))));
        assert!(o.wants_gpu());
        assert_eq!(o.signal_grace, DEFAULT_SIGNAL_GRACE);

        let bad = |p: SlurmPatch| SlurmOptions::resolve(&[&p]).unwrap_err().to_string();
        assert!(
            bad(SlurmPatch { time: Some("2h".into()), ..Default::default() }).starts_with("executor.slurm.time: '2h'")
        );
        assert!(bad(SlurmPatch { partition: Some("a b".into()), ..Default::default() }).contains("whitespace"));
        assert!(bad(SlurmPatch { throttle: Some(0), ..Default::default() }).starts_with("executor.slurm.throttle"));
        assert!(bad(SlurmPatch { extra: Some(vec!["constraint=a100".into()]), ..Default::default() })
            .contains("not an sbatch option"));
        assert!(bad(SlurmPatch { setup: Some(vec!["a\nb".into()]), ..Default::default() }).contains("one line"));
    }

    #[test]
    fn config_files_reject_unknown_keys_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slurm.yaml");
        std::fs::write(&path, "partition: gpu\npartitoin: x\n").unwrap();
        let err = load_config(&path).unwrap_err().to_string();
        assert!(err.contains("slurm.yaml") && err.contains("partitoin"), "{err}");
        std::fs::write(&path, "partition: gpu\naccount: lab\n").unwrap();
        assert_eq!(load_config(&path).unwrap().account.as_deref(), Some("lab"));
    }
}
