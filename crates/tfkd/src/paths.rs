//! Where tfkd keeps caches, datasets, specs and results: relative to the current directory (the repository
//! root under `just`), each overridable by an environment variable.

use std::path::PathBuf;

fn env_or(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// `$TFKD_CACHE_DIR`, or `.cache`: decoded data and run folders (checkpoints); git-ignored.
#[must_use]
pub fn cache_dir() -> PathBuf {
    env_or("TFKD_CACHE_DIR", ".cache")
}

/// `$TFKD_DATA_DIR`, or `data`: where `tfkd data fetch` unpacks datasets; git-ignored.
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

/// Writes `contents` to `path` through a temporary file beside it and a rename, so an interrupted write
/// never leaves a half-written file behind.
pub fn write_atomic(path: &std::path::Path, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
