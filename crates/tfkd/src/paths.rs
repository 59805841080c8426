//! Where tfkd keeps caches (decoded data, checkpoints): git-ignored, overridable by environment.

use std::path::PathBuf;

/// `$TFKD_CACHE_DIR`, or `.cache` under the current directory (the repository root under `just`).
#[must_use]
pub fn cache_dir() -> PathBuf {
    std::env::var_os("TFKD_CACHE_DIR").map_or_else(|| PathBuf::from(".cache"), PathBuf::from)
}
