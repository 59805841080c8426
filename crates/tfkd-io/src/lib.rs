//! File operations every tfkd crate shares, so each exists once:
//!
//! * [`write_atomic`] / [`write_atomic_with`]: the one atomic write — a temporary file beside the target,
//!   written, fsynced and renamed into place, then the folder fsynced. An interrupted or failed write
//!   leaves the previous file (or none), never a torn one, and its error names the file.
//! * [`temp`]: the temporary files' names (`.tmp-<host>-<pid>-<name>`) and [`temp::sweep`], which removes
//!   those left by processes that died (`kill -9`, a full disk).
//! * [`lease`]: a run's lease — a lock file created with an atomic hard link (safe on NFS, unlike
//!   `flock`), holding host, pid and a heartbeat; a lease whose process is gone, or whose heartbeat is
//!   older than its timeout, is stale and may be taken over.
//! * [`chain`]: an error and its sources as one line, for messages stored in files.
//! * [`paths`]: where a project keeps its cache, data, specs and results (each overridable by a variable).
//!
//! No libtorch: the report crate and the spec tools use it too.

pub mod atomic;
pub mod lease;
pub mod paths;
pub mod temp;

pub use atomic::{write_atomic, write_atomic_with, IoError};
pub use lease::{Acquire, Lease, Owner};

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`).
#[must_use]
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// `err` followed by each of its sources, joined by `": "`: the whole reason on one line.
///
/// Error types in tfkd display their own message only and link the cause as their `source`; a cause whose
/// words the line already holds (an error from a library that prints its source, then that source) is left
/// out, so a reason is never said twice. The binary prints every error through this.
#[must_use]
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_joins_sources_once() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let err = super::IoError { op: "writing", path: "/x/table.md".into(), source: io };
        assert_eq!(super::chain(&err), "writing /x/table.md: No space left on device");
    }

    /// An error that prints its source in its own message, as some libraries' errors do.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cache/runs: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_the_line_already_holds_is_said_once() {
        let denied = || std::io::Error::from_raw_os_error(13);
        assert_eq!(super::chain(&Repeats(denied())), format!("cache/runs: {}", denied()));
    }
}
