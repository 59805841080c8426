//! Measurements on this machine, each against a reference measured in the same invocation, with provenance:
//!
//! * [`data`]: the CPU input pipeline on cifar10-jpeg; [`imagenet`]: the ImageNet input pipeline against
//!   torchvision's, per core and per stage;
//! * [`models`]: each model's training step against PyTorch's (or another tfkd report's);
//! * [`array`]: one run at a time, fused arrays and packed processes against PyTorch's official loop;
//! * [`zoo`]: the zoo's parameter counts and forward FLOPs (`tfkd models`).
//!
//! What they share: one [`timer`] (warm-up, budget, the device synchronised by its own index), one
//! [`footer`] (the provenance sentence, and the `.md`/`.json` pair written atomically), typed
//! [`reference`]s, and the operating system's CPU counters ([`proc`]). Every benchmark times the one training
//! [`Step`](tfkd_trainers::step::Step) the runs take. Nothing here prints but progress lines on stderr; the
//! binary prints the reports.

use tfkd_losses::{CrossEntropy, Loss};

pub mod array;
pub mod data;
pub mod footer;
pub mod imagenet;
pub mod models;
pub mod proc;
pub mod reference;
pub mod timer;
pub mod zoo;

pub use footer::publish;

/// The baseline loss (hard-label cross-entropy) the benchmarks time.
fn cross_entropy() -> Loss {
    Loss::CrossEntropy(CrossEntropy)
}
