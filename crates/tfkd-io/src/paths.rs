//! Where tfkd keeps caches, datasets, specs and results: relative to the project's root folder (the
//! nearest folder at or above the current one that holds `experiments/paper.yaml`), so `tfkd` works the
//! same from any folder inside a clone; relative to the current folder outside one. Each folder can be
//! overridden by an environment variable.

use std::path::{Path, PathBuf};

/// The file that marks a tfkd project's root folder.
const MARKER: &str = "experiments/paper.yaml";

/// The nearest folder at or above the current one that holds `experiments/paper.yaml`, if any.
#[must_use]
pub fn project_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().find(|dir| dir.join(MARKER).is_file()).map(Path::to_path_buf)
}

fn env_or(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map_or_else(|| project_root().map_or_else(|| PathBuf::from(default), |root| root.join(default)), PathBuf::from)
}

/// `$TFKD_CACHE_DIR`, or `.cache`: decoded data and run folders (checkpoints); git-ignored.
#[must_use]
pub fn cache_dir() -> PathBuf {
    env_or("TFKD_CACHE_DIR", ".cache")
}

/// `$TFKD_DATA_DIR`, or `data`: the bundled `cifar10-jpeg.tar.gz` and what `tfkd data fetch` unpacks.
#[must_use]
pub fn data_dir() -> PathBuf {
    env_or("TFKD_DATA_DIR", "data")
}

/// `$TFKD_EXPERIMENTS_DIR`, or `experiments`.
#[must_use]
pub fn experiments_dir() -> PathBuf {
    env_or("TFKD_EXPERIMENTS_DIR", "experiments")
}

/// `$TFKD_RESULTS_DIR`, or `results`.
#[must_use]
pub fn results_dir() -> PathBuf {
    env_or("TFKD_RESULTS_DIR", "results")
}

/// The folders a teacher's weights file named without a folder is looked for in, in order: `$TFKD_WEIGHTS`,
/// `<data dir>/weights`, and torch's hub cache (`$TORCH_HOME/hub/checkpoints`, by default
/// `~/.cache/torch/hub/checkpoints`, where `torchvision.models.resnet18(weights=...)` downloads to).
#[must_use]
pub fn weights_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("TFKD_WEIGHTS").filter(|v| !v.is_empty()).map(PathBuf::from).into_iter().collect();
    dirs.push(data_dir().join("weights"));
    let torch_home = std::env::var_os("TORCH_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
        cache.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"))).map(|c| c.join("torch"))
    });
    dirs.extend(torch_home.map(|t| t.join("hub").join("checkpoints")));
    dirs
}

/// Where a weights file named `name` is: `name` itself when it is a path that exists (absolute, or relative
/// to the current folder with a folder part), else the first of [`weights_dirs`] that holds it; `Err` lists
/// every place looked in.
pub fn find_weights(name: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let direct = Path::new(name);
    if direct.is_absolute() || direct.components().count() > 1 {
        return if direct.is_file() { Ok(direct.to_path_buf()) } else { Err(vec![direct.to_path_buf()]) };
    }
    let looked: Vec<PathBuf> = weights_dirs().into_iter().map(|d| d.join(name)).collect();
    looked.iter().find(|p| p.is_file()).cloned().ok_or(looked)
}

/// A folder setting that cannot be used, found by [`check`] before any work.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// A variable is set to the empty string (which would silently mean the current folder).
    #[error("{0} is set but empty; unset it to use the project's default folder, or set it to a folder")]
    Empty(&'static str),
    /// A folder tfkd writes to exists and is not a folder.
    #[error(
        "{} is not a folder (it is where {var} points, or its default); remove or move that file, or set {var} to a folder",
        .path.display()
    )]
    NotAFolder {
        /// The variable naming the folder.
        var: &'static str,
        /// Where it points.
        path: PathBuf,
    },
}

/// Checks the folders tfkd uses before any work: a variable set but empty is refused (it would silently
/// mean the current folder), and a folder tfkd writes to that exists but is not a folder is named.
pub fn check() -> Result<(), PathsError> {
    for var in ["TFKD_CACHE_DIR", "TFKD_RESULTS_DIR", "TFKD_DATA_DIR", "TFKD_EXPERIMENTS_DIR"] {
        if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            return Err(PathsError::Empty(var));
        }
    }
    for (var, path) in [("TFKD_CACHE_DIR", cache_dir()), ("TFKD_RESULTS_DIR", results_dir())] {
        if path.exists() && !path.is_dir() {
            return Err(PathsError::NotAFolder { var, path });
        }
    }
    Ok(())
}
