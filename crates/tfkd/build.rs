//! Bakes the libtorch folder into the rpath of the `tfkd` binary and its tests.
fn main() {
    tfkd_build::libtorch_rpath();
}
