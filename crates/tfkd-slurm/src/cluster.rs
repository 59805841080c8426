//! Talking to Slurm: `sbatch`, `scontrol show job`, `sacct`, `scancel`, and parsers for what they print.
//!
//! `scontrol show job -o ARRAY` lists every task of a job array while slurmctld remembers it (`MinJobAge`
//! after it ends); `sacct` (only where the cluster keeps accounting) covers older jobs. A job known to
//! neither is reported as unknown, never guessed.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    path::Path,
    process::Command,
};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SlurmError};

/// One task of a job array: `ARRAY_TASK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobRef {
    /// The array's job id.
    pub array: u64,
    /// The task id.
    pub task: u32,
}

impl fmt::Display for JobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.array, self.task)
    }
}

/// Slurm's view of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, …
    pub state: String,
    /// Why it is pending or ended (`Dependency`, `DependencyNeverSatisfied`, `NonZeroExitCode`, …).
    pub reason: String,
    /// `exit:signal`, when known.
    pub exit_code: Option<String>,
    /// Times it was requeued.
    pub restarts: u32,
}

impl JobState {
    /// Still queued or running: its run must not be submitted again.
    #[must_use]
    pub fn is_active(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "REQUEUED"
                | "REQUEUE_HOLD"
                | "REQUEUE_FED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "SUSPENDED"
                | "STOPPED"
        )
    }

    /// Ended in a way that says the task itself failed (not cancelled, not preempted).
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self.state.as_str(), "FAILED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE")
    }

    /// Pending on a dependency that can no longer be satisfied (a teacher task failed).
    #[must_use]
    pub fn never_starts(&self) -> bool {
        self.state == "PENDING" && self.reason == "DependencyNeverSatisfied"
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.state)?;
        let mut notes = Vec::new();
        if !self.reason.is_empty() && self.reason != "None" {
            notes.push(self.reason.clone());
        }
        if let Some(code) = self.exit_code.as_deref().filter(|c| *c != "0:0" && self.state != "PENDING") {
            notes.push(format!("exit {code}"));
        }
        if self.restarts > 0 {
            notes.push(format!("requeued {}×", self.restarts));
        }
        if !notes.is_empty() {
            write!(f, " ({})", notes.join(", "))?;
        }
        Ok(())
    }
}

/// The Slurm client commands, as found on PATH.
#[derive(Debug, Clone, Default)]
pub struct Cluster;

fn run(cmd: &mut Command) -> Result<(bool, String, String)> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| SlurmError::Missing { command: line, source })?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

fn failed(cmd: &Command, status: &str, stderr: String) -> SlurmError {
    SlurmError::Failed { command: format!("{cmd:?}").replace('"', ""), status: status.into(), stderr }
}

impl Cluster {
    /// Whether Slurm's client commands are here (`sbatch --version` runs).
    #[must_use]
    pub fn available(&self) -> bool {
        Command::new("sbatch").arg("--version").output().is_ok_and(|o| o.status.success())
    }

    /// Submits a script; returns the job id (of the array).
    pub fn sbatch(&self, script: &Path) -> Result<u64> {
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable").arg(script);
        let (ok, stdout, stderr) = run(&mut cmd)?;
        if !ok {
            return Err(failed(&cmd, "non-zero exit", stderr));
        }
        parse_sbatch(&stdout).ok_or_else(|| SlurmError::Unreadable {
            command: "sbatch --parsable".into(),
            output: stdout,
            expected: "a job id",
        })
    }

    /// The state of every task of these job arrays that Slurm still knows (`scontrol`, then `sacct`).
    pub fn states(&self, arrays: &BTreeSet<u64>) -> Result<BTreeMap<JobRef, JobState>> {
        let mut found = BTreeMap::new();
        let mut unknown = Vec::new();
        for id in arrays {
            let mut cmd = Command::new("scontrol");
            cmd.args(["show", "job", "-o", &id.to_string()]);
            let (ok, stdout, stderr) = run(&mut cmd)?;
            if ok {
                found.extend(parse_scontrol(&stdout));
            } else if stderr.contains("Invalid job id") {
                unknown.push(*id);
            } else {
                return Err(failed(&cmd, "non-zero exit", stderr));
            }
        }
        if !unknown.is_empty() {
            let ids: Vec<String> = unknown.iter().map(u64::to_string).collect();
            let mut cmd = Command::new("sacct");
            cmd.args(["-X", "-n", "-P", "-o", "JobID,State,ExitCode,Reason", "-j", &ids.join(",")]);
            // Without accounting sacct fails ("accounting storage is disabled"): those jobs stay unknown.
            if let Ok((true, stdout, _)) = run(&mut cmd) {
                for (job, state) in parse_sacct(&stdout) {
                    found.entry(job).or_insert(state);
                }
            }
        }
        Ok(found)
    }

    /// Cancels tasks.
    pub fn cancel(&self, jobs: &[JobRef]) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut cmd = Command::new("scancel");
        cmd.args(jobs.iter().map(ToString::to_string));
        let (ok, _, stderr) = run(&mut cmd)?;
        if ok {
            Ok(())
        } else {
            Err(failed(&cmd, "non-zero exit", stderr))
        }
    }
}

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
#[must_use]
pub fn parse_sbatch(out: &str) -> Option<u64> {
    out.trim().split(';').next()?.trim().parse().ok()
}

/// Task ids of `0-5%2`, `1,3-4`, `[0-3]`: every id in the ranges (the `%N` throttle dropped).
fn task_ids(s: &str) -> Vec<u32> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    let s = s.split('%').next().unwrap_or_default();
    let mut ids = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    ids.extend(a..=b);
                }
            }
            None => ids.extend(part.parse::<u32>().ok()),
        }
    }
    ids
}

/// One record of `scontrol show job -o` as key/value pairs; a value with spaces (`Reason=job requeued in
/// held state`) keeps its words.
fn pairs(line: &str) -> BTreeMap<&str, String> {
    let mut map: BTreeMap<&str, String> = BTreeMap::new();
    let mut last: Option<&str> = None;
    for token in line.split(' ').filter(|t| !t.is_empty()) {
        match token.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '/') => {
                map.insert(k, v.to_string());
                last = Some(k);
            }
            _ => {
                if let Some(v) = last.and_then(|k| map.get_mut(k)) {
                    v.push(' ');
                    v.push_str(token);
                }
            }
        }
    }
    map
}

/// Tasks in `scontrol show job -o` output (one line per record; a pending remainder of an array is one
/// record whose `ArrayTaskId` is a range).
#[must_use]
pub fn parse_scontrol(out: &str) -> BTreeMap<JobRef, JobState> {
    let mut tasks = BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with("JobId=") || l.contains(" JobId=")) {
        let kv = pairs(line);
        let Some(state) = kv.get("JobState") else { continue };
        let (array, ids) = match (kv.get("ArrayJobId").and_then(|a| a.parse().ok()), kv.get("ArrayTaskId")) {
            (Some(a), Some(t)) => (a, task_ids(t)),
            _ => match kv.get("JobId").and_then(|j| j.parse().ok()) {
                Some(j) => (j, vec![0]),
                None => continue,
            },
        };
        let job = JobState {
            state: state.clone(),
            reason: kv.get("Reason").cloned().unwrap_or_default(),
            exit_code: kv.get("ExitCode").cloned(),
            restarts: kv.get("Restarts").and_then(|r| r.parse().ok()).unwrap_or(0),
        };
        for task in ids {
            tasks.insert(JobRef { array, task }, job.clone());
        }
    }
    tasks
}

/// Tasks in `sacct -X -n -P -o JobID,State,ExitCode,Reason` output.
#[must_use]
pub fn parse_sacct(out: &str) -> BTreeMap<JobRef, JobState> {
    let mut tasks = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 3 {
            continue;
        }
        let (array, ids) = match f[0].split_once('_') {
            Some((a, t)) => (a.parse().ok(), task_ids(t)),
            None => (f[0].parse().ok(), vec![0]),
        };
        let Some(array) = array else { continue };
        let job = JobState {
            state: f[1].split_whitespace().next().unwrap_or_default().to_string(),
            reason: f.get(3).map_or_else(String::new, |r| r.to_string()),
            exit_code: Some(f[2].to_string()),
            restarts: 0,
        };
        for task in ids {
            tasks.insert(JobRef { array, task }, job.clone());
        }
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as slurm-wlm 22.05 prints them (trimmed of fields the parser ignores).
    const SCONTROL: &str = "\
JobId=98 ArrayJobId=98 ArrayTaskId=2 JobName=w UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=3:0
JobId=102 ArrayJobId=98 ArrayTaskId=1 JobName=w JobState=CANCELLED Reason=None Restarts=0 ExitCode=0:15
JobId=103 ArrayJobId=98 ArrayTaskId=3-5%2 JobName=w JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) Restarts=0 ExitCode=0:0
JobId=29 ArrayJobId=27 ArrayTaskId=0 JobName=w JobState=PENDING Reason=job requeued in held state Dependency=(null) Requeue=1 Restarts=1 ExitCode=0:0
JobId=99 JobName=one JobState=TIMEOUT Reason=TimeLimit Restarts=0 ExitCode=0:15
";

    #[test]
    fn scontrol_records_become_tasks() {
        let t = parse_scontrol(SCONTROL);
        let get = |a, task| &t[&JobRef { array: a, task }];
        assert_eq!(get(98, 2).state, "FAILED");
        assert!(get(98, 2).is_failure());
        assert_eq!(get(98, 2).exit_code.as_deref(), Some("3:0"));
        assert!(!get(98, 1).is_failure() && !get(98, 1).is_active());
        for task in 3..=5 {
            assert_eq!(get(98, task).reason, "JobArrayTaskLimit");
            assert!(get(98, task).is_active());
        }
        assert_eq!(get(27, 0).reason, "job requeued in held state");
        assert_eq!(get(27, 0).restarts, 1);
        assert_eq!(get(99, 0).state, "TIMEOUT");
        assert_eq!(t.len(), 7);
        assert_eq!(get(98, 2).to_string(), "FAILED (NonZeroExitCode, exit 3:0)");
        assert_eq!(get(27, 0).to_string(), "PENDING (job requeued in held state, requeued 1×)");
    }

    #[test]
    fn sacct_rows_and_sbatch_ids() {
        let t = parse_sacct("1_0|COMPLETED|0:0|None\n1_1|FAILED|1:0|NonZeroExitCode\n4_[2-3]|PENDING|0:0|Dependency\n7|CANCELLED by 0|0:0|None\n");
        assert_eq!(t.len(), 5);
        assert_eq!(t[&JobRef { array: 1, task: 1 }].state, "FAILED");
        assert!(t[&JobRef { array: 4, task: 3 }].is_active());
        assert_eq!(t[&JobRef { array: 7, task: 0 }].state, "CANCELLED");
        assert_eq!(parse_sbatch("123\n"), Some(123));
        assert_eq!(parse_sbatch("123;cluster1\n"), Some(123));
        assert_eq!(parse_sbatch("sbatch: error\n"), None);
    }

    #[test]
    fn never_satisfied_dependencies_are_seen() {
        let t = parse_scontrol("JobId=108 JobName=s JobState=PENDING Reason=DependencyNeverSatisfied Dependency=afterok:107_*(failed) ExitCode=0:0\n");
        assert!(t[&JobRef { array: 108, task: 0 }].never_starts());
    }
}
