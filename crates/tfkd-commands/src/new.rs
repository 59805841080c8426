//! `tfkd new NAME`: writes a commented spec skeleton a user edits into an experiment of their own
//! (docs/own-experiment.md). The skeleton runs as it is, under every profile of the built-in defaults.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The skeleton, with `NAME` where the experiment's name goes.
const SKELETON: &str = include_str!("skeleton.yaml");

/// The skeleton for an experiment called `name`.
#[must_use]
pub fn skeleton(name: &str) -> String {
    SKELETON.replace("NAME", name)
}

/// Writes `NAME.yaml` into `dir` (refusing to replace a file unless `force`); returns its path. A name is
/// lower-case letters, digits and `-`, as target names are, since it names the results folder too.
pub fn new(name: &str, dir: &Path, force: bool) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    anyhow::ensure!(valid, "'{name}' is not a target name: use lower-case letters, digits and '-' (e.g. ls-teacher)");
    let path = dir.join(format!("{name}.yaml"));
    anyhow::ensure!(force || !path.exists(), "{} exists; pass --force to replace it", path.display());
    tfkd_io::write_atomic(&path, skeleton(name)).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    /// The skeleton resolves under every profile of the built-in defaults, with its claims.
    #[test]
    fn the_skeleton_resolves_under_every_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = super::new("my-study", dir.path(), false).unwrap();
        for profile in ["smoke", "quick", "overnight", "paper"] {
            let exp = tfkd_spec::load(&path, profile, &[]).unwrap_or_else(|e| panic!("{profile}: {e}"));
            assert_eq!(exp.name, "my-study");
            assert_eq!(exp.claims.len(), 2, "{profile}");
        }
        assert!(super::new("my-study", dir.path(), false).is_err(), "an existing file is not replaced");
        assert!(super::new("My Study", dir.path(), false).is_err());
    }
}
