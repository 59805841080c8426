//! Where a number came from: typed in [`tfkd_records::provenance`]; captured here with libtorch's thread count.

pub use tfkd_records::provenance::{cpu, rfc3339, ArrayInfo, Provenance};

/// The provenance of work starting now in this process (libtorch's current thread count included).
#[must_use]
pub fn capture(libtorch: &str, device: &str, numerics: &str) -> Provenance {
    Provenance::capture(libtorch, device, numerics, tch::get_num_threads())
}
