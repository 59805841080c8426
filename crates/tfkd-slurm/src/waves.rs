//! From the runs to submit to job arrays: a *task* trains one job (a run, or runs fused into one array)
//! and waits for the tasks that train its teachers; tasks of one wave (depth in the teacher graph) that wait
//! for the same teacher tasks form one job array, submitted with `--dependency=afterok:` on exactly those
//! tasks. A failed teacher task thus stops only its own students (Slurm cancels them, as
//! `--kill-on-invalid-dep=yes` asks), and the arrays of one wave run side by side.

use std::collections::BTreeSet;

use crate::cluster::JobRef;

/// What a task waits for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dep {
    /// A task submitted earlier, still queued or running.
    Queued(JobRef),
    /// A task of this submission (its index in the task list), submitted before this one.
    Task(usize),
}

/// One Slurm task: the runs it trains and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Run ids, trained as one job by one worker.
    pub run_ids: Vec<String>,
    /// Their labels (`id@seed`), for scripts and messages.
    pub labels: Vec<String>,
    /// The teacher tasks it waits for.
    pub deps: BTreeSet<Dep>,
}

/// One job array to submit: tasks (indices into the task list, in array order) and their dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayPlan {
    /// 0 for tasks that wait for no task of this submission, n + 1 for those waiting on wave n.
    pub wave: usize,
    /// The tasks: array task id i is `tasks[i]`.
    pub tasks: Vec<usize>,
    /// What every task of the array waits for.
    pub deps: BTreeSet<Dep>,
}

/// Groups `tasks` (each listed after the tasks it depends on) into job arrays, in submission order: by wave,
/// then by first appearance.
///
/// # Panics
/// If a task depends on a task listed after it (the caller lists teachers first).
#[must_use]
pub fn arrays(tasks: &[Task]) -> Vec<ArrayPlan> {
    let mut wave = vec![0usize; tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for d in &t.deps {
            if let Dep::Task(j) = d {
                assert!(*j < i, "task {i} depends on task {j}, which is listed after it");
                wave[i] = wave[i].max(wave[*j] + 1);
            }
        }
    }
    let mut plans: Vec<ArrayPlan> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        match plans.iter_mut().find(|a| a.wave == wave[i] && a.deps == t.deps) {
            Some(a) => a.tasks.push(i),
            None => plans.push(ArrayPlan { wave: wave[i], tasks: vec![i], deps: t.deps.clone() }),
        }
    }
    plans.sort_by_key(|a| a.wave); // stable: first appearance within a wave
    plans
}

impl ArrayPlan {
    /// The `--dependency` value, or `None` without dependencies; `task` names a task of this submission
    /// (`A_T` once its array has an id, a placeholder in `--dry-run`).
    #[must_use]
    pub fn dependency(&self, task: &dyn Fn(usize) -> String) -> Option<String> {
        if self.deps.is_empty() {
            return None;
        }
        let refs: Vec<String> = self
            .deps
            .iter()
            .map(|d| match d {
                Dep::Queued(j) => j.to_string(),
                Dep::Task(t) => task(*t),
            })
            .collect();
        Some(format!("afterok:{}", refs.join(":")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, deps: &[Dep]) -> Task {
        Task { run_ids: vec![id.into()], labels: vec![format!("{id}@1")], deps: deps.iter().cloned().collect() }
    }

    #[test]
    fn students_wait_for_exactly_their_teachers_tasks() {
        let queued = JobRef { array: 7, task: 2 };
        let tasks = vec![
            task("t1", &[]),
            task("t2", &[]),
            task("s1a", &[Dep::Task(0)]),
            task("s2", &[Dep::Task(1)]),
            task("s1b", &[Dep::Task(0)]),
            task("s3", &[Dep::Queued(queued)]),
            task("g1", &[Dep::Task(2)]),
        ];
        let plans = arrays(&tasks);
        let shape: Vec<(usize, Vec<usize>)> = plans.iter().map(|a| (a.wave, a.tasks.clone())).collect();
        assert_eq!(shape, vec![(0, vec![0, 1]), (0, vec![5]), (1, vec![2, 4]), (1, vec![3]), (2, vec![6])]);
        let placed = |t: usize| format!("11_{t}");
        assert_eq!(plans[0].dependency(&placed), None);
        assert_eq!(plans[1].dependency(&placed).as_deref(), Some("afterok:7_2"));
        assert_eq!(plans[2].dependency(&placed).as_deref(), Some("afterok:11_0"));
        assert_eq!(plans[3].dependency(&placed).as_deref(), Some("afterok:11_1"));
    }
}
