//! What the training loop reports; the loop never prints, observers (progress bars, logs) do.
//!
//! Events are plain values that serialise to JSON, so a run trained in a child process (`--jobs`)
//! streams them to the parent as JSON lines, and the parent's observer sees the same events as for a
//! run trained in process.

use serde::{Deserialize, Serialize};

use crate::metrics::{EpochMetrics, Summary};

/// A training event; every run's event names its run (`id@seed`), since runs may train concurrently. [`Event::Note`]
/// and [`Event::Output`] are the plan's own messages: the libraries report through an observer and never print,
/// the binary decides where a message goes (above the progress bars, a worker's pipe, a log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A run starts (or resumes after `resumed_epochs`).
    RunStart {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Total epochs.
        epochs: u32,
        /// Batches per epoch.
        batches: usize,
        /// Epochs already done (resume).
        resumed_epochs: u32,
    },
    /// Training batches finished (reported every batch on the CPU, less often on a GPU).
    Batch {
        /// `id@seed`.
        label: String,
        /// 1-based epoch.
        epoch: u32,
        /// 0-based index of the last finished batch.
        batch: usize,
        /// Running mean loss of the epoch.
        loss: f64,
        /// The mean loss of this batch alone (of the last batch read, on a GPU).
        #[serde(default)]
        step_loss: f64,
        /// The global optimisation step of this batch (0-based).
        #[serde(default)]
        step: u64,
        /// Running training accuracy of the epoch.
        acc: f64,
        /// Training images per second so far in the epoch.
        img_per_s: f64,
    },
    /// An epoch finished and was checkpointed.
    Epoch {
        /// `id@seed`.
        label: String,
        /// Its metrics.
        metrics: EpochMetrics,
    },
    /// A run finished.
    RunEnd {
        /// `id@seed`.
        label: String,
        /// Its accuracies.
        summary: Summary,
    },
    /// A run was already finished earlier (or by another process meanwhile): nothing trained.
    RunCached {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Its accuracies.
        summary: Summary,
        /// Who finished it, when not an earlier invocation: e.g. another tfkd that held its lease.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// Another process holds the run's lease: this one waits for it to finish, then reuses its result.
    RunWaiting {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// The holder (what, pid, host, last heartbeat).
        holder: String,
    },
    /// A run failed (a NaN loss, a teacher that did not finish, …); the message says why.
    RunFailed {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Why.
        error: String,
    },
    /// A run stopped on request with a checkpoint; the same command resumes it.
    RunInterrupted {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// Where it stopped.
        at: String,
        /// Another process took its lease over: it trains and records the run, nothing is left to resume here.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        taken_over: bool,
    },
    /// A damaged file of the run's folder was found; the run is resumed or retrained as `action` says.
    RunRepaired {
        /// `id@seed`.
        label: String,
        /// Run id.
        run_id: String,
        /// The file and what is wrong with it.
        damaged: String,
        /// What happens instead.
        action: String,
    },
    /// A line for the person running tfkd: a decision about the whole plan (jobs, arrays, a substituted
    /// dataset), an estimate, a cluster's state, a warning.
    Note {
        /// The text, one or more lines.
        text: String,
    },
    /// The command's own output, for stdout (a dry run's job scripts).
    Output {
        /// The text.
        text: String,
    },
}

impl Event {
    /// A [`Event::Note`].
    #[must_use]
    pub fn note(text: impl Into<String>) -> Event {
        Event::Note { text: text.into() }
    }
}

/// Receives events.
pub trait Observer {
    /// Handles one event.
    fn event(&mut self, event: &Event);

    /// The plan has ended (finished, failed or interrupted): a live display clears itself before the
    /// summary is printed.
    fn finish(&mut self) {}

    /// Asks the person running tfkd a yes/no `question`; `None` when nobody can answer (no terminal, a
    /// worker, a test), which callers take as no.
    fn confirm(&mut self, _question: &str) -> Option<bool> {
        None
    }
}

/// Ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&mut self, _: &Event) {}
}

/// Writes every event as one JSON line to a writer (a child process's stdout).
#[derive(Debug)]
pub struct JsonLines<W: std::io::Write>(pub W);

impl<W: std::io::Write> Observer for JsonLines<W> {
    fn event(&mut self, event: &Event) {
        // A closed pipe means the parent is gone; training goes on and checkpoints stay valid.
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        let _ = self.0.write_all(&line).and_then(|()| self.0.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_lines() {
        let event = Event::Batch {
            label: "base-cnn5@1".into(),
            epoch: 2,
            batch: 7,
            loss: 1.25,
            step_loss: 1.5,
            step: 15,
            acc: 0.5,
            img_per_s: 900.0,
        };
        let mut out = JsonLines(Vec::new());
        out.event(&event);
        let text = String::from_utf8(out.0).unwrap();
        assert!(text.ends_with('\n') && text.starts_with(r#"{"event":"batch","label":"base-cnn5@1""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(text.trim()).unwrap(), event);
    }
}
