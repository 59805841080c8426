//! Where a number came from: code version, libraries, device, threads, seeds and times.

use std::{path::Path, process::Command, time::SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The environment a run was trained in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// tfkd version.
    pub tfkd_version: String,
    /// `git rev-parse HEAD`, if run inside a repository.
    pub git_commit: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// sha256 of Cargo.lock.
    pub cargo_lock_sha256: Option<String>,
    /// libtorch version string.
    pub libtorch: String,
    /// Device name, e.g. `cpu` or `cuda:0 (NVIDIA H200)`.
    pub device: String,
    /// libtorch intra-op threads.
    pub threads: i32,
    /// Host name.
    pub host: String,
    /// Start time, UTC, RFC 3339.
    pub started: String,
    /// End time, UTC, RFC 3339.
    pub finished: Option<String>,
    /// Wall seconds.
    pub wall_seconds: Option<f64>,
    /// CPU model (`/proc/cpuinfo`): CPU results depend on the instruction sets libtorch dispatches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// The vector instruction sets the CPU offers that libtorch's kernels may use (avx2, avx512f, amx, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_isa: Vec<String>,
    /// How CPU kernels were chosen: `native` (libtorch picks the widest instruction set) or a pinned mode
    /// such as `portable-avx2` (see tfkd's numerics setting), with the variables set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerics: Option<String>,
    /// The fused array the run trained in, if it trained with others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<ArrayInfo>,
    /// Why the run trained alone though planned in a fused array: the array failed to build or run (a
    /// kernel, memory or grouped-convolution limit of the device) and tfkd fell back to single runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_fallback: Option<String>,
    /// The memory layout the model trained in where it was not libtorch's default (`channels-last`: see
    /// `tfkd_models::MemoryFormat`); absent for the default, contiguous layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_format: Option<String>,
}

/// A run's place in a fused training array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrayInfo {
    /// Members of the array.
    pub members: usize,
    /// This run's member index.
    pub index: usize,
    /// Every member's label, in member order.
    pub labels: Vec<String>,
}

/// The CPU model and the vector instruction sets it offers, from `/proc/cpuinfo`.
#[must_use]
pub fn cpu() -> (Option<String>, Vec<String>) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())
    };
    let flags = field("flags").unwrap_or_default();
    let isa = [
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
        "amx_bf16",
    ]
    .iter()
    .filter(|f| flags.split_whitespace().any(|x| x == **f))
    .map(|f| (*f).to_string())
    .collect();
    (field("model name"), isa)
}

impl Provenance {
    /// Captures the environment now; `libtorch`, `device`, `numerics` and libtorch's `threads` come from the
    /// caller, which knows them.
    #[must_use]
    pub fn capture(libtorch: &str, device: &str, numerics: &str, threads: i32) -> Self {
        let (cpu, cpu_isa) = cpu();
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        Provenance {
            tfkd_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git(&["rev-parse", "HEAD"]),
            git_dirty: git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
            cargo_lock_sha256: git(&["rev-parse", "--show-toplevel"])
                .and_then(|top| std::fs::read(Path::new(&top).join("Cargo.lock")).ok())
                .map(|b| Sha256::digest(&b).iter().map(|x| format!("{x:02x}")).collect()),
            libtorch: libtorch.to_string(),
            device: device.to_string(),
            threads,
            host: tfkd_io::host_name(),
            started: rfc3339(SystemTime::now()),
            finished: None,
            wall_seconds: None,
            cpu,
            cpu_isa,
            numerics: Some(numerics.to_string()),
            array: None,
            array_fallback: None,
            memory_format: None,
        }
    }

    /// Marks the end of the run.
    pub fn finish(&mut self, wall_seconds: f64) {
        self.finished = Some(rfc3339(SystemTime::now()));
        self.wall_seconds = Some(wall_seconds);
    }
}

/// Formats a time as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_824_000 + 3_723);
        assert_eq!(super::rfc3339(t), "2026-11-28T01:02:03Z");
        assert_eq!(super::rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
