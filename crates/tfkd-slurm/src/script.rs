//! The sbatch script of one job array.
//!
//! Every task runs the worker in the background and waits for it, so bash can act on a signal at once
//! (a trap runs during `wait`, not during a foreground command). On SIGTERM (preemption, `scancel
//! --signal=TERM`) or SIGUSR1 (the notice `--signal=B:USR1@N` sends before the time limit) the script
//! ignores repeats, passes SIGUSR1 to the worker — which stops at the next batch with a checkpoint and
//! exits 3 — and requeues its own task with `scontrol requeue`; the requeued task resumes from that
//! checkpoint, bit-identically on the CPU. A task being cancelled (`scancel` without `--signal`) is left
//! cancelled. Only SIGUSR1 goes to the worker: a second SIGTERM would make it stop without a checkpoint.

use std::{fmt::Write as _, path::PathBuf};

use crate::{options::SlurmOptions, waves::ArrayPlan, waves::Task};

/// The exit status of a worker stopped by a signal with its checkpoint kept (tfkd's `INTERRUPTED_EXIT`).
pub const INTERRUPTED_EXIT: u8 = 3;

/// How a task starts the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// The `tfkd` executable (on storage the nodes share).
    pub exe: PathBuf,
    /// Arguments before the run ids: `train-one SPEC --profile P --device D [--set K=V …] [--threads N]`.
    pub args: Vec<String>,
    /// Folder the task starts in.
    pub workdir: PathBuf,
    /// Environment the worker needs (tfkd's folders, the libtorch path, thread counts).
    pub env: Vec<(String, String)>,
}

/// `s` as one single-quoted shell word.
#[must_use]
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,%".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the header of one script says besides the options: its name, where logs go, its dependency.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// `--job-name`.
    pub name: &'a str,
    /// `--output`, with `%A`/`%a` for the array and task ids.
    pub output: &'a str,
    /// `--dependency` value.
    pub dependency: Option<&'a str>,
    /// A comment line saying where the script came from.
    pub comment: &'a str,
}

/// The `#SBATCH` directives of `array`'s script.
fn directives(array: &ArrayPlan, header: &Header<'_>, opts: &SlurmOptions) -> Vec<String> {
    let mut sb = vec![format!("--job-name={}", quote(header.name))];
    let throttle = opts.throttle.map_or(String::new(), |n| format!("%{n}"));
    sb.push(format!("--array=0-{}{throttle}", array.tasks.len().saturating_sub(1)));
    sb.push(format!("--output={}", quote(header.output)));
    sb.push("--open-mode=append".into());
    sb.push("--requeue".into());
    if let Some(dep) = header.dependency {
        sb.push(format!("--dependency={dep}"));
        sb.push("--kill-on-invalid-dep=yes".into());
    }
    for (flag, value) in [
        ("partition", &opts.partition),
        ("account", &opts.account),
        ("qos", &opts.qos),
        ("gres", &opts.gres),
        ("mem", &opts.mem),
    ] {
        if let Some(v) = value {
            sb.push(format!("--{flag}={v}"));
        }
    }
    if let Some((t, _)) = &opts.time {
        sb.push(format!("--time={t}"));
    }
    if let Some(c) = opts.cpus_per_task {
        sb.push(format!("--cpus-per-task={c}"));
    }
    if opts.signal_grace > 0 {
        sb.push(format!("--signal=B:USR1@{}", opts.signal_grace));
    }
    sb.extend(opts.extra.iter().map(|line| line.trim().to_string()));
    sb
}

/// The script of `array`, whose task `i` trains `tasks[array.tasks[i]]`.
#[must_use]
pub fn render(array: &ArrayPlan, tasks: &[Task], header: &Header<'_>, opts: &SlurmOptions, worker: &Worker) -> String {
    let mut s = String::from("#!/bin/bash\n");
    for line in directives(array, header, opts) {
        let _ = writeln!(s, "#SBATCH {line}");
    }
    let _ = writeln!(s, "# {}", header.comment);
    s += "set -u\n";
    let _ = writeln!(s, "cd {} || exit 2", quote(&worker.workdir.to_string_lossy()));
    for (k, v) in &worker.env {
        let _ = writeln!(s, "export {k}={}", quote(v));
    }
    for line in &opts.setup {
        let _ = writeln!(s, "{line}");
    }
    s += "case \"${SLURM_ARRAY_TASK_ID:?not a job array task}\" in\n";
    for (i, &t) in array.tasks.iter().enumerate() {
        let ids: Vec<String> = tasks[t].run_ids.iter().map(|id| format!("--run-id {}", quote(id))).collect();
        let _ = writeln!(s, "  {i}) runs=({}) ;; # {}", ids.join(" "), tasks[t].labels.join(", "));
    }
    s += "  *) echo \"tfkd: this array has no task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n";
    s += "task=\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n";
    s += "echo \"tfkd: task $task on $(hostname), start $(( ${SLURM_RESTART_COUNT:-0} + 1 )), $(date -u +%FT%TZ)\" >&2\n";
    let args: Vec<String> = worker.args.iter().map(|a| quote(a)).collect();
    let _ = writeln!(s, "{} {} \"${{runs[@]}}\" &", quote(&worker.exe.to_string_lossy()), args.join(" "));
    let _ = write!(
        s,
        r#"child=$!
on_signal() {{
  trap '' TERM USR1
  if scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -q 'JobState=CANCELLED'; then
    echo "tfkd: task $task cancelled; the worker keeps its last checkpoint" >&2
    kill -USR1 "$child" 2>/dev/null; wait "$child"; exit 0
  fi
  echo "tfkd: SIG$1: the worker checkpoints, then the task is requeued" >&2
  kill -USR1 "$child" 2>/dev/null
  wait "$child"; rc=$?
  if [ "$rc" -eq {INTERRUPTED_EXIT} ]; then
    scontrol requeue "$task" || echo "tfkd: could not requeue $task; the same tfkd command resubmits its runs, which resume" >&2
    exit 0
  fi
  exit "$rc"
}}
trap 'on_signal TERM' TERM
trap 'on_signal USR1' USR1
wait "$child"
exit $?
"#
    );
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{cluster::JobRef, options::SlurmOptions, waves::Dep};

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(quote("plain-1.0"), "plain-1.0");
        assert_eq!(quote("it's a b"), r"'it'\''s a b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn script_carries_options_tasks_and_the_requeue_trap() {
        let tasks = vec![
            Task { run_ids: vec!["aa".into()], labels: vec!["t@1".into()], deps: BTreeSet::new() },
            Task {
                run_ids: vec!["bb".into(), "cc".into()],
                labels: vec!["s@1".into(), "s@2".into()],
                deps: [Dep::Queued(JobRef { array: 5, task: 0 })].into(),
            },
        ];
        let array = ArrayPlan { wave: 1, tasks: vec![1], deps: tasks[1].deps.clone() };
        let opts = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some(("02:00:00".into(), Some(7200))),
            gres: Some("gpu:1".into()),
            cpus_per_task: Some(4),
            throttle: Some(2),
            signal_grace: 90,
            extra: vec!["--constraint=a100".into()],
            setup: vec!["module load cuda".into()],
            ..SlurmOptions::default()
        };
        let worker = Worker {
            exe: "/shared/tfkd/target/release/tfkd".into(),
            args: vec!["train-one".into(), "/shared/tfkd/experiments/x y.yaml".into()],
            workdir: "/shared/tfkd".into(),
            env: vec![("TFKD_CACHE_DIR".into(), "/shared/tfkd/.cache".into())],
        };
        let header =
            Header { name: "tfkd-x", output: "/logs/%A_%a.log", dependency: Some("afterok:5_0"), comment: "c" };
        let s = render(&array, &tasks, &header, &opts, &worker);
        for want in [
            "#SBATCH --array=0-0%2\n",
            "#SBATCH --dependency=afterok:5_0\n#SBATCH --kill-on-invalid-dep=yes\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --gres=gpu:1\n",
            "#SBATCH --time=02:00:00\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --signal=B:USR1@90\n",
            "#SBATCH --constraint=a100\n",
            "#SBATCH --requeue\n",
            "module load cuda\n",
            "  0) runs=(--run-id bb --run-id cc) ;; # s@1, s@2\n",
            "/shared/tfkd/target/release/tfkd train-one '/shared/tfkd/experiments/x y.yaml' \"${runs[@]}\" &\n",
            "kill -USR1 \"$child\"",
            "[ \"$rc\" -eq 3 ]",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        // Every #SBATCH line precedes the first command, or sbatch ignores it.
        let first_cmd = s.lines().position(|l| !l.starts_with('#')).unwrap();
        assert!(s.lines().skip(first_cmd).all(|l| !l.starts_with("#SBATCH")));
    }
}
