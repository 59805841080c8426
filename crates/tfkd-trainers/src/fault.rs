//! Fault injection for tests of the failure paths: `TFKD_FAULT_NAN=LABEL:STEP[,LABEL:STEP…]` makes the loss
//! of run `LABEL` (`id@seed`, or `*` for every run) NaN at global optimisation step `STEP` (0-based), so
//! the NaN handling is exercised through the real training loop rather than by an absurd learning rate
//! (which specs now refuse). `TFKD_FAULT_ABORT=LABEL:STEP[,…]` (same form) aborts the whole process at that
//! step, as an out-of-memory kill or a crash would: no `failed.json`, no last checkpoint, so what the executors
//! do with a job that dies without a word is exercised. `TFKD_FAULT_ARRAY=1` makes every fused array of two or
//! more runs fail to build, as an array a device cannot run would, so the fall-back to single runs is exercised
//! on the CPU.

/// The step at which `label`'s loss is to turn NaN, if the environment asks for it.
#[must_use]
pub fn nan_step(label: &str) -> Option<u64> {
    step_of("TFKD_FAULT_NAN", label)
}

/// The step at which the process training `label` is to abort, if the environment asks for it.
#[must_use]
pub fn abort_step(label: &str) -> Option<u64> {
    step_of("TFKD_FAULT_ABORT", label)
}

/// The step `variable` (`LABEL:STEP[,LABEL:STEP…]`) names for `label`.
fn step_of(variable: &str, label: &str) -> Option<u64> {
    let spec = std::env::var(variable).ok()?;
    spec.split(',').find_map(|item| {
        let (who, step) = item.trim().rsplit_once(':')?;
        (who == "*" || who == label).then(|| step.parse().ok()).flatten()
    })
}

/// Whether fused arrays are to fail as if the device could not run them.
#[must_use]
pub fn array_fails() -> bool {
    std::env::var_os("TFKD_FAULT_ARRAY").is_some_and(|v| !v.is_empty() && v != "0")
}
