//! What a plan's cost is made of, shared by the measured estimate ([`crate::estimate`]) and the FLOPs-based one
//! ([`crate::flops_estimate`]): split sizes, the engine's schedule of a plan's runs, durations in words.

use tfkd_spec::{DataConfig, PlannedRun};
pub use tfkd_trainers::schedule::Schedule;
use tfkd_trainers::{engine::Plan, schedule};

/// Images per split and classes: from the loaded data, or the official sizes when the data is not here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    /// Training images.
    pub train: usize,
    /// Validation images.
    pub val: usize,
    /// Test images.
    pub test: usize,
    /// Classes.
    pub classes: usize,
}

impl Sizes {
    /// The sizes of a loaded plan.
    #[must_use]
    pub fn of(plan: &Plan) -> Sizes {
        let s = &plan.splits;
        Sizes { train: s.train.len(), val: s.val.len(), test: s.test.len(), classes: s.classes }
    }

    /// The official sizes of `data`'s source after its validation split and subsets; `None` for sources
    /// whose size is not fixed (an ImageFolder).
    #[must_use]
    pub fn official(data: &DataConfig) -> Option<Sizes> {
        let d = data.source.descriptor();
        let ((train, test), classes) = (d.official_sizes?, d.classes?);
        let left = train - data.val_size.min(train);
        Some(Sizes {
            train: data.train_subset.map_or(left, |n| n.min(left)),
            val: data.val_size.min(train),
            test: data.test_subset.map_or(test, |n| n.min(test)),
            classes,
        })
    }
}

/// `3 h 20 min`, `14 min`, `40 s`.
#[must_use]
pub fn human(seconds: f64) -> String {
    if seconds >= 86_400.0 * 2.0 {
        format!("{:.1} days", seconds / 86_400.0)
    } else if seconds >= 3600.0 {
        let m = (seconds / 60.0).round() as u64;
        format!("{} h {} min", m / 60, m % 60)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// `runs` trained `jobs` jobs at a time as the engine will train them: each student after its teacher, ready runs
/// that share a shape and resume position (`starts`) fused into arrays of up to `array` members (the engine's own
/// grouping, [`tfkd_trainers::schedule`]); `cost[i]` is run i's seconds alone (`None`: finished, not trained).
#[must_use]
pub fn engine_schedule(
    runs: &[PlannedRun],
    cost: &[Option<f64>],
    starts: &[(u32, usize)],
    jobs: usize,
    array: usize,
) -> Schedule {
    let teacher = tfkd_spec::teacher_indices(runs);
    schedule::simulate(cost, &teacher, jobs, &|ready| schedule::group(runs, ready.iter().copied(), starts, array))
}
