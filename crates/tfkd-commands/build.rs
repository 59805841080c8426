//! Bakes the libtorch folder into the rpath of this crate's binaries and tests.
fn main() {
    tfkd_build::libtorch_rpath();
}
