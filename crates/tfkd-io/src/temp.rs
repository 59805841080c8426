//! Temporary files: one naming rule, and a sweep for those left behind by dead processes.
//!
//! A temporary file is `.tmp-<host>-<pid>-<name>` beside its target, so the folder it lands in is the
//! same filesystem (the rename is atomic) and whoever finds it later can tell whose it was. A process
//! that is killed mid-write (`kill -9`, out of memory) or that hit a full disk leaves it behind; a
//! temporary file is *abandoned* when its process is gone (same host, pid not alive) or, for another
//! host's file, when it has not been modified for a day.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

const PREFIX: &str = ".tmp-";

/// A temporary file of another host is abandoned after this long without a change.
pub const FOREIGN_AGE: Duration = Duration::from_secs(24 * 3600);

/// The temporary path for writing `path`: `.tmp-<host>-<pid>-<name>` in the same folder.
#[must_use]
pub fn path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{PREFIX}{}-{}-{name}", crate::host_name(), std::process::id()))
}

/// Whether a process with this pid is alive on this machine.
#[must_use]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether `name` is a temporary file whose writer is gone (see the module docs).
#[must_use]
pub fn abandoned(path: &Path) -> bool {
    let Some(rest) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(PREFIX)) else {
        return false;
    };
    let host = crate::host_name();
    if let Some(after) = rest.strip_prefix(&format!("{host}-")) {
        let pid = after.split('-').next().and_then(|p| p.parse::<u32>().ok());
        return pid.is_none_or(|pid| pid != std::process::id() && !pid_alive(pid));
    }
    let age =
        std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| SystemTime::now().duration_since(t).ok());
    age.is_some_and(|a| a >= FOREIGN_AGE)
}

/// Removes abandoned temporary files in `dir` and, with `recursive`, below it; returns what it removed
/// with each file's size. Files it cannot remove are left alone.
pub fn sweep(dir: &Path, recursive: bool) -> Vec<(PathBuf, u64)> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if recursive {
                removed.extend(sweep(&path, true));
            }
        } else if abandoned(&path) {
            let size = entry.metadata().map_or(0, |m| m.len());
            if std::fs::remove_file(&path).is_ok() {
                removed.push((path, size));
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_files_of_dead_processes() {
        let dir = tempfile::tempdir().unwrap();
        let host = crate::host_name();
        // A pid far above any pid_max is never alive.
        let dead = dir.path().join(format!(".tmp-{host}-4194999-cifar10-jpeg.bin"));
        let mine = path_for(&dir.path().join("state.json"));
        let other_host = dir.path().join(".tmp-elsewhere-12-x.json");
        let plain = dir.path().join("done.json");
        for p in [&dead, &mine, &other_host, &plain] {
            std::fs::write(p, "x").unwrap();
        }
        let removed: Vec<PathBuf> = sweep(dir.path(), false).into_iter().map(|r| r.0).collect();
        assert_eq!(removed, vec![dead]);
        assert!(mine.exists() && other_host.exists() && plain.exists());
    }
}
