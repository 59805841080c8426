//! The engine's schedule ahead of time: which runs it fuses into one job, in what order and on how many job
//! slots. The engine groups ready runs with [`group`]; the estimate simulates the engine with [`simulate`], which
//! groups with the same function, so an estimate prices the jobs the engine will start — fused arrays included.

use tfkd_spec::PlannedRun;

use crate::array::{ArrayKey, Jobs};

/// The most members per fused array that `runs` allow on this device (`cuda`): the smallest of their
/// `train.array` limits (1: every run alone).
#[must_use]
pub fn array_limit(runs: &[PlannedRun], cuda: bool) -> usize {
    runs.iter().map(|p| p.config.train.array.limit(cuda)).min().unwrap_or(1)
}

/// The runs `ready` (indices into `runs`, in plan order) grouped into jobs as the engine starts them: runs that
/// share an [`ArrayKey`] (their shape and resume position `starts[i]`) fuse into arrays of at most `array`
/// members; jobs keep plan order.
#[must_use]
pub fn group(
    runs: &[PlannedRun],
    ready: impl IntoIterator<Item = usize>,
    starts: &[(u32, usize)],
    array: usize,
) -> Vec<Vec<usize>> {
    let mut jobs = Jobs::new(array);
    for i in ready {
        jobs.add(i, ArrayKey::of(&runs[i], starts[i]));
    }
    jobs.into_jobs().into_iter().map(|(_, members)| members).collect()
}

/// A simulated run of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Wall seconds until the last job ends.
    pub seconds: f64,
    /// The jobs (indices into the plan), in the order they start.
    pub jobs: Vec<Vec<usize>>,
}

impl Schedule {
    /// The jobs as their members' run ids (`runs`: the plan the indices point into).
    #[must_use]
    pub fn run_ids(&self, runs: &[PlannedRun]) -> Vec<Vec<String>> {
        self.jobs.iter().map(|j| j.iter().map(|&i| runs[i].run_id.clone()).collect()).collect()
    }
}

/// Simulates the engine on `slots` job slots: `cost[i]` is run i's seconds (`None`: finished already, not
/// trained), `teacher[i]` the index of its teacher; whenever a slot is free, the runs whose teacher has ended by
/// then are grouped by `group_ready` (the engine's [`group`], or every run alone) and the first job starts,
/// costing the sum of its members' seconds (a fused array is costed without its gain, which is not measured
/// here). Greedy list scheduling, as the engine starts jobs.
#[must_use]
pub fn simulate(
    cost: &[Option<f64>],
    teacher: &[Option<usize>],
    slots: usize,
    group_ready: &dyn Fn(&[usize]) -> Vec<Vec<usize>>,
) -> Schedule {
    let n = cost.len();
    let mut end: Vec<Option<f64>> = cost.iter().map(|c| if c.is_none() { Some(0.0) } else { None }).collect();
    let mut started: Vec<bool> = cost.iter().map(Option::is_none).collect();
    let mut free_at = vec![0f64; slots.max(1)];
    let mut jobs = Vec::new();
    while started.iter().any(|s| !s) {
        let (slot, free) =
            free_at.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, f64::INFINITY));
        let ended_by = |i: usize, t: f64| teacher[i].is_none_or(|k| end[k].is_some_and(|e| e <= t));
        let ready: Vec<usize> = (0..n).filter(|&i| !started[i] && ended_by(i, free)).collect();
        let Some(job) = group_ready(&ready).into_iter().next() else {
            // Nothing ready: this slot waits for the next teacher to end.
            let next = (0..n)
                .filter(|&i| !started[i])
                .filter_map(|i| teacher[i].and_then(|k| end[k]))
                .filter(|&e| e > free)
                .min_by(f64::total_cmp);
            match next {
                Some(t) => {
                    free_at[slot] = t;
                    continue;
                }
                // A teacher that never trains (not in this plan's cost): its students cannot start.
                None => break,
            }
        };
        let seconds: f64 = job.iter().filter_map(|&i| cost[i]).sum();
        for &i in &job {
            started[i] = true;
            end[i] = Some(free + seconds);
        }
        free_at[slot] = free + seconds;
        jobs.push(job);
    }
    Schedule { seconds: end.into_iter().flatten().fold(0.0, f64::max), jobs }
}

/// Every run alone, for [`simulate`] where nothing is fused.
#[must_use]
pub fn alone(ready: &[usize]) -> Vec<Vec<usize>> {
    ready.iter().map(|&i| vec![i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_at_once_and_students_after_teachers() {
        // Two teachers (10 s, 4 s), each with one student (5 s), two slots: t1 ‖ t2 → s2 at 4, s1 at 10.
        let cost = [Some(10.0), Some(4.0), Some(5.0), Some(5.0)];
        let teacher = [None, None, Some(0), Some(1)];
        assert_eq!(simulate(&cost, &teacher, 2, &alone).seconds, 15.0);
        assert_eq!(simulate(&cost, &teacher, 1, &alone).seconds, 24.0);
        let eight = simulate(&cost, &teacher, 8, &alone);
        assert_eq!(eight.seconds, 15.0);
        assert_eq!(eight.jobs, vec![vec![0], vec![1], vec![3], vec![2]]);
        // Finished runs cost nothing and start no job.
        let rest = simulate(&[None, None, Some(5.0), Some(5.0)], &teacher, 2, &alone);
        assert_eq!((rest.seconds, rest.jobs), (5.0, vec![vec![2], vec![3]]));
    }

    #[test]
    fn grouped_runs_train_as_one_job() {
        // Pairs of ready runs fuse: the teachers together, then their students together.
        let pairs = |ready: &[usize]| ready.chunks(2).map(<[usize]>::to_vec).collect::<Vec<_>>();
        let cost = [Some(10.0), Some(4.0), Some(5.0), Some(5.0)];
        let s = simulate(&cost, &[None, None, Some(0), Some(1)], 2, &pairs);
        assert_eq!(s.jobs, vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(s.seconds, 24.0);
    }
}
