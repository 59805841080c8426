//! What each `tfkd` command does, under the binary (which only parses, calls and prints) — named for that, as
//! it holds more than the executors:
//!
//! * [`target`]: a target by name — its spec file, the runs selected, where its records go;
//! * [`train`]: `run`/`reproduce` — the plan trained by an [`executor`] ([`executors`] by name): here (this
//!   process, or supervised [`worker`] processes with `--jobs`), on Slurm ([`slurm`]) or through a minimal
//!   batch system ([`shell`]), and the records written;
//! * [`estimate`]: the plan's time on this machine, from measured throughput, or for ImageNet from FLOPs
//!   ([`flops_estimate`], also in GPU-hours); [`schedule`] holds what both share; [`check`] shows them;
//!   [`contention`] tells whether other processes loaded the CPUs while it measured;
//! * [`export`]: a run's weights as a PyTorch state dict under torchvision's names;
//! * [`status`]: run folders' states, and `clean`;
//! * [`report`]: the report step (tables, figures, the results index) from records only;
//! * [`data`], [`doctor`]: data inspection and fetching, the installation's health (benchmarks and the zoo's
//!   listing are `tfkd-bench`);
//! * [`context`], [`libtorch`], [`numerics`], [`signals`], [`allocator`]: the process's device, libtorch, kernel
//!   numerics, signal handling, and how freed memory is kept.
//!
//! Data flows one way: spec → plan (`tfkd-trainers`' engine) → training → records → report.

pub mod allocator;
pub mod check;
pub mod contention;
pub mod context;
pub mod data;
pub mod doctor;
pub mod estimate;
pub mod executor;
pub mod executors;
pub mod export;
pub mod flops_estimate;
pub mod libtorch;
pub mod new;
pub mod numerics;
pub mod options;
pub mod report;
pub mod schedule;
pub mod shell;
pub mod signals;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod target;
pub mod train;
pub mod worker;

pub use options::{ExecutorName, Flag, Flags, RunOptions};
pub use train::Interrupted;
pub use worker::INTERRUPTED_EXIT;
