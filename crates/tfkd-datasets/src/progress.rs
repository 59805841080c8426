//! Progress of long data work (decoding a dataset, downloading an archive), reported to a listener the
//! program installs — the library itself draws nothing. The `tfkd` binary draws a bar per task on stderr.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    RwLock,
};

/// A progress report: what is being done, how far, and whether it is over.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// E.g. `train` (decoding the train split) or an archive's name.
    pub what: &'a str,
    /// Units done (images, bytes).
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
    /// The task ended (successfully or not).
    pub finished: bool,
}

type Listener = Box<dyn Fn(&Tick<'_>) + Send + Sync>;

static LISTENER: RwLock<Option<Listener>> = RwLock::new(None);

/// Sends every later [`Tick`] to `f` (replacing an earlier listener).
pub fn listen(f: impl Fn(&Tick<'_>) + Send + Sync + 'static) {
    if let Ok(mut l) = LISTENER.write() {
        *l = Some(Box::new(f));
    }
}

type NoticeListener = Box<dyn Fn(&str) + Send + Sync>;

static NOTICE: RwLock<Option<NoticeListener>> = RwLock::new(None);

/// Sends every later notice (something the user should know, such as a damaged cache being rebuilt) to `f`.
pub fn on_notice(f: impl Fn(&str) + Send + Sync + 'static) {
    if let Ok(mut l) = NOTICE.write() {
        *l = Some(Box::new(f));
    }
}

/// Tells the installed notice listener; without one, the notice goes to stderr, so it is never lost.
pub(crate) fn notice(message: &str) {
    match NOTICE.read().ok().as_ref().and_then(|l| l.as_ref()) {
        Some(f) => f(message),
        None => eprintln!("{message}"),
    }
}

fn emit(tick: &Tick<'_>) {
    if let Ok(l) = LISTENER.read() {
        if let Some(f) = l.as_ref() {
            f(tick);
        }
    }
}

/// One task's progress; reports its end when dropped.
#[derive(Debug)]
pub(crate) struct Task {
    what: String,
    total: Option<u64>,
    done: AtomicU64,
}

impl Task {
    pub(crate) fn new(what: &str, total: Option<u64>) -> Self {
        emit(&Tick { what, done: 0, total, finished: false });
        Task { what: what.to_string(), total, done: AtomicU64::new(0) }
    }

    /// `n` more units done (callable from many threads).
    pub(crate) fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        emit(&Tick { what: &self.what, done, total: self.total, finished: false });
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        emit(&Tick { what: &self.what, done: self.done.load(Ordering::Relaxed), total: self.total, finished: true });
    }
}
