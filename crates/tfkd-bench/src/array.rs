//! `tfkd bench array`: aggregate training throughput of one run at a time (the baseline), fused arrays of A
//! runs and N packed worker processes, on real cifar10-jpeg images with the official augmentation, beside
//! PyTorch's official loop (DataLoader workers and all) measured on the same machine.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tch::Device;
use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize, Source};
use tfkd_io::paths;
use tfkd_models::{Arch, ModelConfig};
use tfkd_trainers::{
    provenance::Provenance,
    step::{Hyper, Step},
    Context,
};

use crate::{
    cross_entropy,
    footer::{provenance_line, where_measured},
    reference::{read_loop_reference, LoopReference},
    timer::{time_steps, Budget},
};

/// One row of the array benchmark: a model trained as one run, as a fused array of A runs, or as N packed
/// worker processes of one run each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArrayRow {
    /// Model name.
    pub model: String,
    /// Width multiplier.
    pub width: f64,
    /// `one run`, `array`, or `processes`.
    pub mode: String,
    /// Runs trained at once (members of the array, or processes).
    pub runs: usize,
    /// Training images per second of all runs together.
    pub img_per_s: f64,
    /// Timed steps (per process for packed processes).
    pub steps: usize,
}

/// A cifar10-jpeg loader for member `seed` with the official augmentation (real images, as training sees them).
fn real_loader(split: &Arc<tfkd_datasets::Split>, batch: usize, seed: u64) -> anyhow::Result<Loader> {
    let config = LoaderConfig {
        batch_size: batch,
        shuffle: true,
        augment: Augment::cifar_official(),
        normalize: Normalize::cifar_official(),
        seed,
        prefetch: 2,
    };
    Ok(Loader::new(split.clone(), config)?)
}

/// Aggregate training images/s of `members` runs of `arch` trained as one fused array on real augmented
/// images: each member draws its own batches (its own seed), the fused model steps once for all.
pub fn array_throughput(
    arch: Arch,
    width: f64,
    batch: usize,
    members: usize,
    seconds: f64,
    device: Device,
) -> anyhow::Result<(f64, usize)> {
    let ds = Source::named(tfkd_datasets::SourceName::Cifar10Jpeg, &paths::data_dir()).load(&paths::cache_dir())?;
    let split = Arc::new(ds.train);
    tch::manual_seed(0);
    let config = ModelConfig { width, ..ModelConfig::new(10) };
    let mut train = Step::new(device, arch, config, &Hyper::official(members), false)?;
    let losses = vec![cross_entropy(); members];
    let lr = vec![0.1; members];
    let loaders: Vec<Loader> =
        (0..members).map(|a| real_loader(&split, batch, a as u64)).collect::<anyhow::Result<_>>()?;
    let mut epochs: Vec<u64> = vec![0; members];
    let mut iters: Vec<_> = loaders.iter().map(|l| l.epoch(0, 0)).collect();
    let timed = time_steps(device, Budget::seconds(seconds, device), &mut || {
        let mut xs = Vec::with_capacity(members);
        let mut ys = Vec::with_capacity(members);
        for a in 0..members {
            let b = match iters[a].next() {
                Some(b) => b?,
                None => {
                    epochs[a] += 1;
                    iters[a] = loaders[a].epoch(epochs[a], 0);
                    iters[a].next().context("an epoch without batches")??
                }
            };
            xs.push(b.images.to_device(device));
            ys.push(b.labels.to_device(device));
        }
        train.train(&xs, &ys, &losses, &[], &lr)?;
        Ok(())
    })?;
    Ok((timed.rate(batch * members), timed.steps))
}

/// Aggregate images/s of `n` worker processes (`tfkd bench array --worker`), each training one run of
/// `arch`, started together; on the CPU each gets cores / n threads.
pub fn packed_throughput(
    arch: Arch,
    width: f64,
    batch: usize,
    n: usize,
    seconds: f64,
    device: &str,
) -> anyhow::Result<(f64, usize)> {
    let exe = std::env::current_exe()?;
    let start_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64 + 3_000;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let children: Vec<std::process::Child> = (0..n)
        .map(|_| {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["bench", "array", "--models", &arch.to_string(), "--widths", &width.to_string()])
                .args(["--batch", &batch.to_string(), "--arrays", "1", "--packed", "0"])
                .args(["--seconds", &seconds.to_string()])
                .args(["--device", device, "--worker-start-at", &start_at.to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if device == "cpu" {
                cmd.env("RAYON_NUM_THREADS", (cores / n).max(1).to_string())
                    .env("TFKD_BENCH_THREADS", (cores / n).max(1).to_string());
            }
            cmd.spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut total = 0.0;
    let mut steps = usize::MAX;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            anyhow::bail!("a packed worker failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let row: ArrayRow = serde_json::from_slice(&out.stdout).map_err(|e| {
            anyhow::anyhow!("a packed worker printed no row ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })?;
        total += row.img_per_s;
        steps = steps.min(row.steps);
    }
    Ok((total, steps))
}

/// What `tfkd bench array` measures: each model at each width as one run at a time, as fused arrays and as
/// packed processes.
#[derive(Debug, Clone)]
pub struct ArrayBench {
    /// Models.
    pub archs: Vec<Arch>,
    /// Width multipliers.
    pub widths: Vec<f64>,
    /// Batch size per run.
    pub batch: usize,
    /// Array sizes (1 = one run at a time, the baseline).
    pub arrays: Vec<usize>,
    /// Numbers of packed worker processes (those under 2 are skipped).
    pub packed: Vec<usize>,
    /// Seconds timed per measurement.
    pub seconds: f64,
    /// Device name, as packed workers are given it.
    pub device: String,
}

impl ArrayBench {
    /// Measures every model, width, array size and process count; `reference` is the PyTorch loop's JSON lines.
    /// Each row is said to `obs` as it is measured.
    pub fn run(
        &self,
        ctx: &Context,
        reference: Option<&Path>,
        obs: &mut dyn tfkd_trainers::Observer,
    ) -> anyhow::Result<ArrayReport> {
        let mut say = |line: String| obs.event(&tfkd_trainers::Event::note(line));
        let reference = match reference {
            Some(path) => read_loop_reference(path)?,
            None => Vec::new(),
        };
        let start = Instant::now();
        let mut provenance = tfkd_trainers::provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
        let mut rows = Vec::new();
        for &width in &self.widths {
            for &arch in &self.archs {
                for &a in &self.arrays {
                    let (ips, steps) = array_throughput(arch, width, self.batch, a, self.seconds, ctx.device)?;
                    let mode = if a == 1 { "one run" } else { "array" };
                    say(format!("{arch:<14} width {width:<6} {mode:<10} {a:>2} runs {ips:>10.1} img/s"));
                    rows.push(row(arch, width, mode, a, ips, steps));
                }
                for &n in self.packed.iter().filter(|&&n| n >= 2) {
                    let (ips, steps) = packed_throughput(arch, width, self.batch, n, self.seconds, &self.device)?;
                    say(format!("{arch:<14} width {width:<6} processes  {n:>2} runs {ips:>10.1} img/s"));
                    rows.push(row(arch, width, "processes", n, ips, steps));
                }
            }
        }
        provenance.finish(start.elapsed().as_secs_f64());
        Ok(ArrayReport { provenance, batch: self.batch, rows, reference })
    }

    /// As one packed worker: waits until `start_at` (Unix ms, shared by all workers), then times one run of
    /// the first model at the first width.
    pub fn worker(&self, start_at: u64, ctx: &Context) -> anyhow::Result<ArrayRow> {
        if let Some(t) = std::env::var("TFKD_BENCH_THREADS").ok().and_then(|t| t.parse().ok()) {
            tch::set_num_threads(t);
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
        std::thread::sleep(std::time::Duration::from_millis(start_at.saturating_sub(now)));
        let arch = *self.archs.first().context("no model to measure")?;
        let width = *self.widths.first().context("no width to measure")?;
        let (ips, steps) = array_throughput(arch, width, self.batch, 1, self.seconds, ctx.device)?;
        Ok(row(arch, width, "one run", 1, ips, steps))
    }
}

fn row(arch: Arch, width: f64, mode: &str, runs: usize, img_per_s: f64, steps: usize) -> ArrayRow {
    ArrayRow { model: arch.to_string(), width, mode: mode.into(), runs, img_per_s, steps }
}

/// What `tfkd bench array` measured, with provenance and PyTorch's official loop beside it.
#[derive(Debug, Serialize)]
pub struct ArrayReport {
    /// Version, commit, libtorch, device, threads, time.
    pub provenance: Provenance,
    /// Batch size per run.
    pub batch: usize,
    /// tfkd's rows.
    pub rows: Vec<ArrayRow>,
    /// The PyTorch reference's rows (`benches/torch_train.py timed`), one run at a time.
    pub reference: Vec<LoopReference>,
}

impl ArrayReport {
    /// tfkd's one-run-at-a-time speed of `model` at `width` (NaN where not measured).
    fn one_run(&self, model: &str, width: f64) -> f64 {
        self.rows
            .iter()
            .find(|b| b.model == model && b.width == width && b.mode == "one run")
            .map_or(f64::NAN, |b| b.img_per_s)
    }

    /// A Markdown table: aggregate img/s per mode, the speed-up over one run at a time, the reference.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Aggregate training throughput on {}: real cifar10-jpeg images with the official augmentation, batch {} \
             per run, SGD step included. \"× one run\" divides by tfkd's one-run-at-a-time speed measured in the \
             same invocation (the baseline: one process per run, one after another).\n\n",
            where_measured(&self.provenance),
            self.batch
        );
        out += "| model | width | mode | runs at once | img/s (all runs) | img/s per run | × one run |\n\
                |---|---:|---|---:|---:|---:|---:|\n";
        for r in &self.rows {
            out += &format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2}× |\n",
                r.model,
                r.width,
                r.mode,
                r.runs,
                r.img_per_s,
                r.img_per_s / r.runs as f64,
                r.img_per_s / self.one_run(&r.model, r.width)
            );
        }
        if !self.reference.is_empty() {
            out +=
                "\nPyTorch reference (benches/torch_train.py timed: the official loop, DataLoader workers, one run), \
                    measured in the same invocation:\n\n\
                    | model | width | img/s | tfkd one run / reference |\n|---|---:|---:|---:|\n";
            for r in &self.reference {
                let ours = self.one_run(&r.model, r.width);
                out += &format!("| {} | {} | {:.1} | {:.2}× |\n", r.model, r.width, r.img_per_s, ours / r.img_per_s);
            }
        }
        out += &format!("\n{}\n", provenance_line(&self.provenance));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reference row is set against tfkd's one run of the same model at the same width, not another
    /// width's (the report holds widths 1 and 1/8 together).
    #[test]
    fn the_reference_is_matched_by_model_and_width() {
        let reference = |width: f64, img_per_s: f64| LoopReference {
            model: "resnet18".into(),
            width,
            img_per_s,
            details: Default::default(),
        };
        let report = ArrayReport {
            provenance: Provenance::capture("2.11.0", "cpu", "native", 2),
            batch: 128,
            rows: vec![
                row(Arch::ResNet18, 1.0, "one run", 1, 40.0, 3),
                row(Arch::ResNet18, 0.125, "one run", 1, 1000.0, 3),
                row(Arch::ResNet18, 0.125, "array", 2, 1500.0, 3),
            ],
            reference: vec![reference(1.0, 50.0), reference(0.125, 800.0)],
        };
        let table = report.markdown();
        assert!(table.contains("| resnet18 | 1 | 50.0 | 0.80× |"), "{table}");
        assert!(table.contains("| resnet18 | 0.125 | 800.0 | 1.25× |"), "{table}");
        assert!(table.contains("| resnet18 | 0.125 | array | 2 | 1500.0 | 750.0 | 1.50× |"), "{table}");
    }
}
