//! A target's spec as the commands load it: parsed and resolved under a profile (tfkd-spec), then its executor
//! settings, which the spec carries unread, checked by their executors ([`crate::executors::check_settings`]).
//! Worker processes load with [`crate::target::load`]: their parent checked.

use std::path::Path;

use anyhow::Context as _;
use tfkd_spec::Experiment;

use crate::{executors, target};

/// The experiment of the spec at `path` under `profile` with `sets` (`--set KEY=VALUE`), its executor settings
/// checked.
pub fn load(path: &Path, profile: &str, sets: &[String]) -> anyhow::Result<Experiment> {
    let exp = target::load(path, profile, sets)?;
    executors::check_settings(&exp).context("invalid spec")?;
    Ok(exp)
}
