//! Where tfkd keeps caches (decoded data, checkpoints) and datasets: git-ignored, overridable by environment.

use std::path::PathBuf;

/// `$TFKD_CACHE_DIR`, or `.cache` under the current directory (the repository root under `just`).
#[must_use]
pub fn cache_dir() -> PathBuf {
    std::env::var_os("TFKD_CACHE_DIR").map_or_else(|| PathBuf::from(".cache"), PathBuf::from)
}

/// `$TFKD_DATA_DIR`, or `data` under the current directory: where `tfkd data fetch` unpacks datasets.
#[must_use]
pub fn data_dir() -> PathBuf {
    std::env::var_os("TFKD_DATA_DIR").map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// `$TFKD_EXPERIMENTS_DIR`, or `experiments` under the current directory.
#[must_use]
pub fn experiments_dir() -> PathBuf {
    std::env::var_os("TFKD_EXPERIMENTS_DIR").map_or_else(|| PathBuf::from("experiments"), PathBuf::from)
}

/// `$TFKD_RESULTS_DIR`, or `results` under the current directory.
#[must_use]
pub fn results_dir() -> PathBuf {
    std::env::var_os("TFKD_RESULTS_DIR").map_or_else(|| PathBuf::from("results"), PathBuf::from)
}
