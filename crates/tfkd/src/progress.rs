//! Progress display for training: bars on a terminal (one for the target, one per run in training),
//! one line per epoch otherwise (CI logs, `--quiet`).

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tfkd_trainers::{Event, Observer};

/// Shows a bar for the whole target and one for each run in training (several with `--jobs`).
#[derive(Debug)]
pub struct Progress {
    multi: MultiProgress,
    target: ProgressBar,
    /// Per run label: its bar and its number of epochs.
    runs: HashMap<String, (ProgressBar, u32)>,
    quiet: bool,
}

impl Progress {
    /// A display for `runs` runs; `quiet` prints only one line per epoch and run.
    #[must_use]
    pub fn new(runs: usize, name: &str, quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let target = multi.add(ProgressBar::new(runs as u64));
        target.set_style(
            ProgressStyle::with_template("{msg:<24} runs [{bar:30}] {pos}/{len} elapsed {elapsed_precise}")
                .expect("template")
                .progress_chars("=> "),
        );
        target.set_message(name.to_string());
        Progress { multi, target, runs: HashMap::new(), quiet }
    }

    /// A bar for a run that starts (or resumes).
    fn start(&mut self, label: &str, run_id: &str, epochs: u32, batches: usize, resumed_epochs: u32) {
        let bar = self.multi.add(ProgressBar::new(batches as u64));
        bar.set_style(
            ProgressStyle::with_template("  {prefix:<28} [{bar:25}] {pos}/{len} {msg} eta {eta}")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{label} ep {}/{epochs}", resumed_epochs + 1));
        self.runs.insert(label.to_string(), (bar, epochs));
        let resumed =
            if resumed_epochs > 0 { format!(" (resuming after epoch {resumed_epochs})") } else { String::new() };
        self.line(format!("train {label} [{run_id}]{resumed}"));
    }

    /// One line per finished epoch.
    fn epoch(&mut self, label: &str, m: &tfkd_trainers::EpochMetrics) {
        let epochs = self.runs.get(label).map_or(0, |(bar, epochs)| {
            bar.reset();
            *epochs
        });
        let val = m.val_acc.map_or(String::new(), |v| format!(" val {:.2}%", v * 100.0));
        self.line(format!(
            "  {label} epoch {}/{epochs}: loss {:.4} train {:.2}%{val} test {:.2}% lr {:.5} ({:.1} s, {:.0} img/s)",
            m.epoch,
            m.train_loss,
            m.train_acc * 100.0,
            m.test_acc * 100.0,
            m.lr,
            m.seconds,
            m.train_img_per_s
        ));
    }

    fn line(&self, text: String) {
        if self.quiet || self.multi.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }
}

impl Observer for Progress {
    /// Closes the bars (a run that failed leaves its bar behind until here).
    fn finish(&mut self) {
        for (_, (bar, _)) in self.runs.drain() {
            bar.finish_and_clear();
        }
        self.target.finish_and_clear();
    }

    /// Asks on the terminal; `None` when stdin is not one.
    fn confirm(&mut self, question: &str) -> Option<bool> {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return None;
        }
        self.multi.suspend(|| eprint!("{question} [y/N] "));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(matches!(answer.trim(), "y" | "Y" | "yes"))
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::Note { text } => self.line(text.clone()),
            Event::Output { text } => self.multi.suspend(|| println!("{text}")),
            Event::RunStart { label, run_id, epochs, batches, resumed_epochs } => {
                self.start(label, run_id, *epochs, *batches, *resumed_epochs);
            }
            Event::Batch { label, epoch, batch, loss, acc, img_per_s, .. } => {
                if let Some((bar, epochs)) = self.runs.get(label) {
                    bar.set_prefix(format!("{label} ep {epoch}/{epochs}"));
                    bar.set_position(*batch as u64 + 1);
                    bar.set_message(format!("loss {loss:.3} acc {:.1}% {img_per_s:.0} img/s", acc * 100.0));
                }
            }
            Event::Epoch { label, metrics } => self.epoch(label, metrics),
            Event::RunEnd { label, summary } => {
                if let Some((bar, _)) = self.runs.remove(label) {
                    bar.finish_and_clear();
                }
                self.target.inc(1);
                self.line(format!(
                    "done  {label}: test {:.2}% (best {:.2}% at epoch {})",
                    summary.last_test_acc * 100.0,
                    summary.best_test_acc * 100.0,
                    summary.best_test_epoch
                ));
            }
            Event::RunCached { label, run_id, summary, by } => {
                self.target.inc(1);
                let how = by.as_deref().unwrap_or("already trained");
                self.line(format!(
                    "cached {label} [{run_id}]: {how}, not training again (test {:.2}%)",
                    summary.last_test_acc * 100.0
                ));
            }
            Event::RunWaiting { label, run_id, holder } => {
                self.line(format!(
                    "wait  {label} [{run_id}]: another process is training it ({holder}); its result will be reused"
                ));
            }
            Event::RunRepaired { label, run_id, damaged, action } => {
                self.line(format!("repair {label} [{run_id}]: {damaged} — {action}"));
            }
            Event::RunFailed { label, error, .. } => {
                if let Some((bar, _)) = self.runs.remove(label) {
                    bar.finish_and_clear();
                }
                self.target.inc(1);
                self.line(format!("failed {label}: {error}"));
            }
            Event::RunInterrupted { label, at, taken_over, .. } => {
                if let Some((bar, _)) = self.runs.remove(label) {
                    bar.finish_and_clear();
                }
                if *taken_over {
                    self.line(format!("stopped {label}: {at}"));
                } else {
                    self.line(format!("stopped {label} {at}: its checkpoint is kept"));
                }
            }
        }
    }
}

/// Prints the libraries' notes on stderr and their output on stdout, where no training is shown (the report
/// step, benchmarks).
#[derive(Debug, Default)]
pub struct Lines;

impl Observer for Lines {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Note { text } => eprintln!("{text}"),
            Event::Output { text } => println!("{text}"),
            _ => {}
        }
    }
}

/// Draws a bar on stderr for each data task the datasets crate reports (decoding, downloading); hidden
/// when stderr is not a terminal.
pub fn data_bars() {
    let bars: std::sync::Mutex<HashMap<String, ProgressBar>> = std::sync::Mutex::default();
    tfkd_datasets::progress::listen(move |tick| {
        let Ok(mut bars) = bars.lock() else { return };
        if tick.finished {
            if let Some(bar) = bars.remove(tick.what) {
                bar.finish_and_clear();
            }
            return;
        }
        let bar = bars.entry(tick.what.to_string()).or_insert_with(|| {
            let bar = ProgressBar::new(tick.total.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
                    .expect("template")
                    .progress_chars("=> "),
            );
            bar.set_message(tick.what.to_string());
            bar
        });
        bar.set_position(tick.done);
    });
}
