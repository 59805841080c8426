//! A lease on a folder: at most one process works in it at a time, on one machine or many sharing a
//! filesystem (NFS, Lustre), without `flock` (unreliable on NFS).
//!
//! * Taking: the owner record (host, pid, start, heartbeat) is written to a temporary file and hard-linked
//!   to the lock path. `link(2)` fails if the lock exists and is atomic on NFS, the classic safe recipe; the
//!   lock file is complete the moment it exists.
//! * Holding: a thread beats every quarter of the timeout by setting the lock file's modification time (the
//!   record itself is never rewritten, so a beat can never replace another owner's record: the worst a
//!   late beat can do is keep the new owner's lease fresh). Before each beat it checks the lock is still
//!   its own; if another process has taken it over (this one was frozen past the timeout), the lease is
//!   [`Lease::lost`]. A holder asks [`Lease::still_ours`] before every write into the folder it guards,
//!   and writes nothing more once it is lost.
//! * Stale: the owner's process is gone (same host, pid not alive), or neither the heartbeat nor the
//!   file's modification time is newer than the timeout (another host that died). A stale lock is moved
//!   aside by a rename, checked to be the one judged stale, then removed, and taking is retried once.
//! * Releasing: dropping the lease stops the heartbeat and removes the lock if it is still its own.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Condvar, Mutex,
    },
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use crate::{temp, IoError};

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// When the lease was taken (seconds since the Unix epoch).
    pub started: u64,
    /// The last heartbeat (seconds since the Unix epoch).
    pub heartbeat: u64,
    /// What the holder is, for messages (e.g. `tfkd train-one`, a Slurm job id).
    pub what: String,
}

impl Owner {
    fn same_holder(&self, other: &Owner) -> bool {
        (self.host.as_str(), self.pid, self.started) == (other.host.as_str(), other.pid, other.started)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}, last heartbeat {} s ago)",
            self.what,
            self.pid,
            self.host,
            now().saturating_sub(self.heartbeat)
        )
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The outcome of [`Lease::try_acquire`].
#[derive(Debug)]
pub enum Acquire {
    /// The lease is ours.
    Acquired(Lease),
    /// Another live process holds it.
    Held(Owner),
}

#[derive(Debug, Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    lost: AtomicBool,
}

/// A held lease; released on drop.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    owner: Owner,
    shared: Arc<Shared>,
    beat: Option<std::thread::JoinHandle<()>>,
}

/// The lock's record, its heartbeat the later of the record's and the file's modification time (the beat).
fn read_owner(path: &Path) -> Result<Option<(Owner, String)>, IoError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(serde_json::from_str::<Owner>(&text).ok().map(|mut o| {
            o.heartbeat = o.heartbeat.max(modified_secs(path));
            (o, text)
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError { op: "reading", path: path.to_path_buf(), source: e }),
    }
}

/// The record of the lock at `path` as [`Lease`] reads it (its heartbeat the file's time), if it holds one.
#[must_use]
pub fn record_at(path: &Path) -> Option<Owner> {
    read_owner(path).ok().flatten().map(|o| o.0)
}

fn modified_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn stale(owner: Option<&Owner>, path: &Path, stale_after: Duration) -> bool {
    let quiet_since = owner.map_or(0, |o| o.heartbeat).max(modified_secs(path));
    if now().saturating_sub(quiet_since) > stale_after.as_secs() {
        return true;
    }
    owner.is_some_and(|o| o.host == crate::host_name() && !temp::pid_alive(o.pid))
}

impl Lease {
    /// Tries once to take the lease at `path` for `what`; a stale lock is taken over.
    pub fn try_acquire(path: &Path, what: &str, stale_after: Duration) -> Result<Acquire, IoError> {
        let t = now();
        let owner = Owner {
            host: crate::host_name(),
            pid: std::process::id(),
            started: t,
            heartbeat: t,
            what: what.to_string(),
        };
        for attempt in 0..2 {
            if link_new(path, &owner)? {
                return Ok(Acquire::Acquired(Lease::start(path, owner, stale_after)));
            }
            let current = read_owner(path)?;
            if attempt == 1 || !stale(current.as_ref().map(|c| &c.0), path, stale_after) {
                return match current {
                    Some((o, _)) => Ok(Acquire::Held(o)),
                    // Vanished or unreadable between our link and read: try once more.
                    None if attempt == 0 => continue,
                    None => Ok(Acquire::Held(Owner {
                        host: "?".into(),
                        pid: 0,
                        started: 0,
                        heartbeat: t,
                        what: "an unreadable lock".into(),
                    })),
                };
            }
            take_over(path, current.map(|c| c.1), stale_after)?;
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Takes the lease, waiting while another live process holds it: `waiting(owner)` is called once when
    /// the wait starts, `cancelled()` is polled every `poll` and ends the wait with `Ok(None)`.
    pub fn acquire_waiting(
        path: &Path,
        what: &str,
        stale_after: Duration,
        poll: Duration,
        mut waiting: impl FnMut(&Owner),
        cancelled: impl Fn() -> bool,
    ) -> Result<Option<Lease>, IoError> {
        let mut told = false;
        loop {
            match Lease::try_acquire(path, what, stale_after)? {
                Acquire::Acquired(lease) => return Ok(Some(lease)),
                Acquire::Held(owner) => {
                    if !told {
                        waiting(&owner);
                        told = true;
                    }
                }
            }
            if cancelled() {
                return Ok(None);
            }
            std::thread::sleep(poll);
        }
    }

    fn start(path: &Path, owner: Owner, stale_after: Duration) -> Lease {
        let shared = Arc::new(Shared::default());
        let (p, mut me, s) = (path.to_path_buf(), owner.clone(), shared.clone());
        let every = (stale_after / 4).max(Duration::from_millis(50));
        let beat = std::thread::spawn(move || {
            let mut stop = s.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                // Checked under the mutex before waiting, so a release that comes first is never missed.
                if *stop {
                    return;
                }
                let (guard, _) = s.wake.wait_timeout(stop, every).unwrap_or_else(std::sync::PoisonError::into_inner);
                stop = guard;
                if *stop {
                    return;
                }
                if !held_by(&p, &me) {
                    s.lost.store(true, Ordering::SeqCst);
                    return;
                }
                me.heartbeat = now();
                let _ = std::fs::File::options().write(true).open(&p).and_then(|f| f.set_modified(SystemTime::now()));
            }
        });
        Lease { path: path.to_path_buf(), owner, shared, beat: Some(beat) }
    }

    /// Whether another process took the lease over (this one stalled past the timeout): stop writing.
    #[must_use]
    pub fn lost(&self) -> bool {
        self.shared.lost.load(Ordering::SeqCst)
    }

    /// Checks now, reading the lock, that the lease is still this process's; once it is not, the lease is
    /// [`Lease::lost`] for good. Ask before every write into the guarded folder: the heartbeat thread only
    /// notices a takeover at its next beat.
    #[must_use]
    pub fn still_ours(&self) -> bool {
        if self.lost() {
            return false;
        }
        let ours = held_by(&self.path, &self.owner);
        if !ours {
            self.shared.lost.store(true, Ordering::SeqCst);
        }
        ours
    }

    /// Who holds the lock now (after a takeover, the new owner), if anyone.
    #[must_use]
    pub fn holder(&self) -> Option<Owner> {
        read_owner(&self.path).ok().flatten().map(|o| o.0)
    }

    /// The record this lease wrote.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(beat) = self.beat.take() {
            let _ = beat.join();
        }
        if matches!(read_owner(&self.path), Ok(Some((o, _))) if o.same_holder(&self.owner)) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether the lock at `path` is `owner`'s. A record naming another holder answers at once; a lock that is
/// absent or unreadable is read once more after a moment (another process's take-over moves a lock aside
/// and may put it back; a network filesystem may fail a read), so a passing glitch does not lose a lease.
fn held_by(path: &Path, owner: &Owner) -> bool {
    for attempt in 0..2 {
        match read_owner(path) {
            Ok(Some((o, _))) => return o.same_holder(owner),
            _ if attempt == 0 => std::thread::sleep(Duration::from_millis(50)),
            _ => {}
        }
    }
    false
}

/// Creates the lock holding `owner` unless one exists: `Ok(true)` when created.
fn link_new(path: &Path, owner: &Owner) -> Result<bool, IoError> {
    let tmp = temp::path_for(path);
    std::fs::write(&tmp, serde_json::to_string(owner).unwrap_or_default()).map_err(IoError::new("writing", &tmp))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // Filesystems without hard links: O_EXCL creation (atomic locally and on NFSv3+).
        Err(_) => match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(serde_json::to_string(owner).unwrap_or_default().as_bytes())
                    .map_err(IoError::new("writing", path))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(IoError { op: "creating", path: path.to_path_buf(), source: e }),
        },
    }
}

/// Moves a stale lock aside and removes it, unless what was moved is not the lock judged stale (another
/// process renewed or replaced it meanwhile): then it is put back.
fn take_over(path: &Path, judged: Option<String>, stale_after: Duration) -> Result<(), IoError> {
    let aside = temp::path_for(&path.with_extension("stale"));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IoError { op: "renaming", path: path.to_path_buf(), source: e }),
    }
    // The rename keeps the file's time, which is the holder's heartbeat: a beat since the judgement shows here.
    let moved = std::fs::read_to_string(&aside).ok();
    let owner = moved.as_deref().and_then(|t| serde_json::from_str::<Owner>(t).ok()).map(|mut o| {
        o.heartbeat = o.heartbeat.max(modified_secs(&aside));
        o
    });
    if judged.is_some() && (moved != judged || !stale(owner.as_ref(), &aside, stale_after)) {
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(600);

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let Acquire::Acquired(lease) = Lease::try_acquire(&path, "first", LONG).unwrap() else { panic!("free lock") };
        // The same process asking again sees it held (one lease per folder, even within a process).
        match Lease::try_acquire(&path, "second", LONG).unwrap() {
            Acquire::Held(o) => assert_eq!((o.what.as_str(), o.pid), ("first", std::process::id())),
            Acquire::Acquired(_) => panic!("taken twice"),
        }
        drop(lease);
        assert!(!path.exists());
        assert!(matches!(Lease::try_acquire(&path, "third", LONG).unwrap(), Acquire::Acquired(_)));
    }

    #[test]
    fn a_dead_owner_or_an_old_heartbeat_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let dead =
            Owner { host: crate::host_name(), pid: 4_194_999, started: now(), heartbeat: now(), what: "killed".into() };
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let Acquire::Acquired(lease) = Lease::try_acquire(&path, "next", LONG).unwrap() else {
            panic!("dead owner kept the lock")
        };
        assert_eq!(read_owner(&path).unwrap().unwrap().0.what, "next");
        drop(lease);
        // Another host's lock is judged by its heartbeat and the file's age.
        let away = Owner { host: "node-7".into(), pid: 1, started: 0, heartbeat: now(), what: "slurm job 12".into() };
        std::fs::write(&path, serde_json::to_string(&away).unwrap()).unwrap();
        assert!(matches!(Lease::try_acquire(&path, "x", LONG).unwrap(), Acquire::Held(o) if o.host == "node-7"));
        std::thread::sleep(Duration::from_millis(1100));
        assert!(matches!(Lease::try_acquire(&path, "x", Duration::from_millis(500)).unwrap(), Acquire::Acquired(_)));
    }

    #[test]
    fn heartbeat_renews_and_detects_a_takeover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let Acquire::Acquired(lease) = Lease::try_acquire(&path, "slow", Duration::from_millis(400)).unwrap() else {
            panic!()
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(!lease.lost());
        // Someone else replaces the lock (as a taker would after judging it stale).
        let other = Owner { host: "node-2".into(), pid: 9, started: 1, heartbeat: now(), what: "other".into() };
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(lease.lost());
        drop(lease);
        assert_eq!(read_owner(&path).unwrap().unwrap().0, other, "dropping a lost lease leaves the new owner's lock");
    }
}
