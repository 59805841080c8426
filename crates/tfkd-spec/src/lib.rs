//! Experiment specs: the YAML schema, profiles and overrides, validation with file/line/column, and
//! the run graph with content-addressed run ids.
//!
//! This crate depends on serde only — no libtorch — so `tfkd check`, CI and reports can validate and
//! expand specs anywhere. Model names are checked by the caller against the model zoo.

pub mod chain;
pub mod claims;
pub mod config;
pub mod error;
pub mod graph;
pub mod layout;
pub use tfkd_names::method;
pub mod paper;
pub mod resolve;
pub mod schema;
pub mod select;

pub use chain::merge;
pub use claims::{ClaimDecl, ClaimOp};
pub use config::{DataConfig, ModelOptions, RunConfig, TrainConfig};
pub use error::{SpecError, SpecErrors};
pub use graph::{plan, run_id, teacher_indices, PlannedRun};
pub use layout::Layout;
pub use paper::{NoBlock, PaperFile, Printed, Targets};
pub use resolve::{kl_weight_note, load, load_str, ExecutorSettings, Experiment, Sweep, MAX_LR, SWEEP_SEPARATOR};
pub use schema::{
    ArrayMode, Cell, ExecutorSection, ExternalTeacher, KlReduction, Method, PaperRow, PaperTable, RegVariant, Snapshot,
    SpecFile, Spread, TeacherRef,
};
pub use select::with_teachers;
pub use tfkd_names as names;
