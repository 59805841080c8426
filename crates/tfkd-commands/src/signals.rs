//! The process's signal dispositions, set once by the binary before any thread starts.

use std::sync::{atomic::AtomicBool, Arc};

/// Installs tfkd's signal handling and returns the stop flag training polls:
///
/// * a closed pipe (`tfkd status | head -1`) ends tfkd quietly, as other command-line tools, not with a panic;
/// * SIGINT, SIGTERM and SIGUSR1 (a cluster's preemption notice) ask training to stop at the next batch with a
///   checkpoint; a second SIGINT or SIGTERM stops at once (exit status 130).
#[must_use]
pub fn install() -> Arc<AtomicBool> {
    // SAFETY: restoring the default disposition of SIGPIPE; the binary calls this before starting threads.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, interrupt.clone());
        let _ = signal_hook::flag::register(signal, interrupt.clone());
    }
    let _ = signal_hook::flag::register(signal_hook::consts::SIGUSR1, interrupt.clone());
    interrupt
}
