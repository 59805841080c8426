//! What a plan's cost is made of, shared by the measured estimate ([`crate::estimate`]) and the FLOPs-based one
//! ([`crate::flops_estimate`]): split sizes, list scheduling of runs after their teachers, durations in words.

use tfkd_spec::DataConfig;
use tfkd_trainers::engine::Plan;

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

/// Wall seconds of `costs` (per run, in plan order) trained `jobs` at a time, each run after its teacher
/// (`teacher[i]`: the index of run i's teacher): greedy list scheduling, as the engine starts ready runs.
#[must_use]
pub fn schedule(costs: &[f64], teacher: &[Option<usize>], jobs: usize) -> f64 {
    let mut end: Vec<Option<f64>> = vec![None; costs.len()];
    let mut slots = vec![0f64; jobs.max(1)];
    let mut left: Vec<usize> = (0..costs.len()).collect();
    while !left.is_empty() {
        // The slot free first takes the first run (in plan order) whose teacher has finished by then, or
        // else waits for the earliest teacher to finish.
        let (slot, free) = slots.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).expect("a slot");
        let ready_at = |i: usize| teacher[i].map_or(Some(0.0), |t| end[t]);
        let pick = left
            .iter()
            .position(|&i| ready_at(i).is_some_and(|r| r <= free))
            .or_else(|| {
                left.iter()
                    .enumerate()
                    .filter_map(|(k, &i)| ready_at(i).map(|r| (k, r)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(k, _)| k)
            })
            .expect("teachers come before their students");
        let i = left.remove(pick);
        let start = free.max(ready_at(i).unwrap_or(0.0));
        end[i] = Some(start + costs[i]);
        slots[slot] = start + costs[i];
    }
    end.into_iter().flatten().fold(0.0, f64::max)
}
