//! A run as the rest of tfkd sees it: its record, and the context runs train in.

use std::{
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
};

use tch::Device;
pub use tfkd_records::RunRecord;

/// Where runs execute and what to record about it.
#[derive(Debug, Clone)]
pub struct Context {
    /// Device for models and data.
    pub device: Device,
    /// Human-readable device name for provenance.
    pub device_name: String,
    /// libtorch version for provenance.
    pub libtorch: String,
    /// How CPU kernels are chosen (`native`, or a pinned mode), for provenance.
    pub numerics: String,
    /// Cache folder (run folders, decoded data).
    pub cache_dir: PathBuf,
    /// Set by a signal handler (SIGINT, SIGTERM, SIGUSR1): training stops at the next batch with a checkpoint.
    pub interrupt: Arc<AtomicBool>,
}
