//! Fuzzing on the stable toolchain (docs/testing.md, "Fuzzing"): seeded byte mutations of committed inputs fed to
//! every parser of untrusted input tfkd has, each input in a supervised process that bounds its time and
//! memory, and the inputs that broke a parser kept as regressions.

pub mod mutate;
pub mod target;

pub use mutate::{mutate, Rng, MAX_INPUT};
pub use target::{repo, Harness, Target};
