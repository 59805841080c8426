//! How the C allocator keeps freed memory. libtorch takes every tensor's buffer from glibc's `malloc`, and a
//! training step allocates and frees the same few hundred buffers each time. By default glibc serves buffers
//! over 128 KiB (a threshold it raises only as far as the sizes it has seen freed) with `mmap` and hands them
//! back with `munmap`, and it returns free memory at the top of the heap to the system past 128 KiB: each
//! step then faults in and zeroes fresh pages for its activations. Profiled on a 2-core AMD EPYC, the
//! kernel's page faults and page zeroing were a quarter of a CIFAR ResNet18's step at width 1/8; kept in the
//! heap, the step ran 1.3× faster at width 1/8 and 1.1× (ResNet18) to 1.3× (MobileNetV2) at width 1
//! (docs/benchmarks.md, "Where the time goes"). Where the memory sits changes no computed bit.
//!
//! The cost: memory a process has freed stays its own (up to [`TRIM_THRESHOLD`] at the heap's top) until it
//! exits, so its resident size is near its peak from the first step on. A user's own `GLIBC_TUNABLES` with
//! malloc settings is left as it is.

/// Buffers up to this size come from the heap and go back to it (glibc's own maximum, 32 MiB on 64-bit,
/// where this is refused): ResNet18's largest activations at batch 128 and width 1 are 32 MiB.
pub const MMAP_THRESHOLD: i32 = 256 << 20;
/// Free memory at the heap's top is returned to the system only past this size.
pub const TRIM_THRESHOLD: i32 = 1 << 30;

/// What [`keep_freed_memory`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The thresholds were set: the heap's `mmap` threshold (bytes) and the trim threshold.
    Set {
        /// Largest buffer served from the heap.
        mmap_threshold: i32,
        /// Free bytes kept at the heap's top.
        trim_threshold: i32,
    },
    /// `GLIBC_TUNABLES` already sets malloc's behaviour: the user's choice stands.
    UserTunables,
    /// Not glibc on Linux: nothing to set.
    Unsupported,
}

impl Kept {
    /// What `tfkd doctor` says of it.
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            Kept::Set { mmap_threshold, trim_threshold } => format!(
                "freed buffers kept in the heap (glibc: buffers up to {} MiB from the heap, {} MiB kept at its top)",
                mmap_threshold >> 20,
                trim_threshold >> 20
            ),
            Kept::UserTunables => "as GLIBC_TUNABLES sets glibc's malloc (left as the user set it)".into(),
            Kept::Unsupported => "the C library's defaults (not glibc on Linux: nothing set)".into(),
        }
    }
}

/// Keeps freed buffers in the process's heap (see the module's documentation). Call it first in `main`,
/// before other threads exist.
#[must_use]
pub fn keep_freed_memory() -> Kept {
    if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
        return Kept::UserTunables;
    }
    set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> Kept {
    // SAFETY: mallopt only changes the allocator's parameters; it is called before other threads allocate.
    let set = |param: i32, value: i32| unsafe { libc::mallopt(param, value) } == 1;
    let mmap_threshold = [MMAP_THRESHOLD, 32 << 20].into_iter().find(|&v| set(libc::M_MMAP_THRESHOLD, v)).unwrap_or(0);
    let trim_threshold = if set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) { TRIM_THRESHOLD } else { 0 };
    Kept::Set { mmap_threshold, trim_threshold }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> Kept {
    Kept::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc takes both thresholds (the larger mmap threshold, or its own 32 MiB maximum).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_thresholds() {
        match set_thresholds() {
            Kept::Set { mmap_threshold, trim_threshold } => {
                assert!(mmap_threshold >= 32 << 20, "{mmap_threshold}");
                assert_eq!(trim_threshold, TRIM_THRESHOLD);
            }
            other => panic!("{other:?}"),
        }
    }
}
