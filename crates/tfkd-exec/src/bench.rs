//! `tfkd bench`: measured throughput of the input pipeline and of model training on this machine.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::Context as _;
use serde::Serialize;
use tch::{Device, Kind, Tensor};
use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize, Source};
use tfkd_io::paths;
use tfkd_losses::{CrossEntropy, Loss};
use tfkd_models::{Arch, ModelConfig};
use tfkd_trainers::{
    provenance::Provenance,
    step::{Hyper, Step},
    Context,
};

/// The baseline loss (hard-label cross-entropy) the benchmarks time.
fn cross_entropy() -> Loss {
    Loss::CrossEntropy(CrossEntropy)
}

/// Throughput of the CPU augmentation pipeline on `images` images of cifar10-jpeg (decode cache warm).
pub fn data(images: usize, batch_size: usize) -> anyhow::Result<f64> {
    let ds = Source::named(tfkd_datasets::SourceName::Cifar10Jpeg, &paths::data_dir()).load(&paths::cache_dir())?;
    let (subset, _) = ds.train.stratified(images.min(ds.train.len()), 0, "bench")?;
    let config = LoaderConfig {
        batch_size,
        shuffle: true,
        augment: Augment::cifar_official(),
        normalize: Normalize::cifar_official(),
        seed: 0,
        prefetch: 2,
    };
    let loader = Loader::new(Arc::new(subset), config)?;
    let _ = loader.epoch(99, 0).take(2).count(); // warm the thread pool
    let start = Instant::now();
    let mut n = 0;
    for batch in loader.epoch(0, 0) {
        n += batch?.labels.size()[0];
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// One row of the model benchmark.
#[derive(Debug, Serialize)]
pub struct ModelRow {
    /// Model name.
    pub model: String,
    /// Width multiplier.
    pub width: f64,
    /// Trainable parameters.
    pub params: i64,
    /// Training images per second (forward + backward + SGD step, batch `batch`, 32×32, K = 10).
    pub train_img_per_s: f64,
    /// Timed steps.
    pub steps: usize,
}

/// Training throughput of `arch` at `width` with batch `batch` on `device` (the CPU with all threads, or a GPU).
pub fn model(arch: Arch, width: f64, batch: i64, max_seconds: f64, device: Device) -> anyhow::Result<ModelRow> {
    tch::manual_seed(0);
    let mut train = Step::new(device, arch, ModelConfig { width, ..ModelConfig::new(10) }, &Hyper::official(1), false)?;
    let x = Tensor::randn([batch, 3, 32, 32], (Kind::Float, device));
    let y = Tensor::randint(10, [batch], (Kind::Int64, device));
    let mut step = || -> anyhow::Result<()> {
        train.train(&[x.shallow_clone()], &[y.shallow_clone()], &[cross_entropy()], &[], &[0.1])?;
        Ok(())
    };
    let sync = || {
        if let Device::Cuda(_) = device {
            tch::Cuda::synchronize(0);
        }
    };
    // Warm-up: allocator, cuDNN algorithm choice (GPU kernels are lazy to load).
    for _ in 0..if device.is_cuda() { 5 } else { 1 } {
        step()?;
    }
    sync();
    let max_steps = if device.is_cuda() { 2_000 } else { 20 };
    let start = Instant::now();
    let mut steps = 0;
    while steps < 2 || (start.elapsed().as_secs_f64() < max_seconds && steps < max_steps) {
        step()?;
        steps += 1;
        if steps % 10 == 0 {
            sync();
        }
    }
    sync();
    Ok(ModelRow {
        model: arch.to_string(),
        width,
        params: tfkd_models::parameter_count(&train.vs),
        train_img_per_s: (steps as i64 * batch) as f64 / start.elapsed().as_secs_f64(),
        steps,
    })
}

/// A benchmark's table, also written with its rows and provenance to `stem.md` and `stem.json` when a stem is
/// given (each atomically); returns the table to print.
pub fn publish(report: &impl Serialize, table: String, stem: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(stem) = stem {
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir)?;
        }
        tfkd_io::write_atomic(&stem.with_extension("md"), &table)?;
        tfkd_io::write_atomic(&stem.with_extension("json"), serde_json::to_string_pretty(report)?)?;
    }
    Ok(table)
}

/// A row of the reference benchmark (`benches/torch_train.py steps`), read from its JSON output.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ReferenceRow {
    /// Model name.
    pub model: String,
    /// Width multiplier.
    pub width: f64,
    /// Training images per second of the PyTorch loop.
    pub train_img_per_s: f64,
}

/// What `tfkd bench models` measured: where and when, our rows, and the reference's rows measured in the
/// same invocation (if given).
#[derive(Debug, Serialize)]
pub struct ModelsReport {
    /// Version, commit, libtorch, device, threads, time.
    pub provenance: Provenance,
    /// Batch size.
    pub batch: i64,
    /// tfkd's rows.
    pub rows: Vec<ModelRow>,
    /// The reference's rows.
    pub reference: Vec<ReferenceRow>,
    /// What the reference is ("PyTorch", or "tfkd with numerics native" for another `tfkd bench models`).
    #[serde(default)]
    pub reference_label: String,
}

/// The reference of `tfkd bench models --reference FILE`: the JSON rows of `benches/torch_train.py steps`, or the
/// JSON report of another `tfkd bench models --out` (e.g. the same models under other numerics), with its label.
pub fn read_reference(path: &std::path::Path) -> anyhow::Result<(Vec<ReferenceRow>, String)> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(rows) = serde_json::from_str::<Vec<ReferenceRow>>(&text) {
        return Ok((rows, "PyTorch".into()));
    }
    #[derive(serde::Deserialize)]
    struct Other {
        provenance: Provenance,
        rows: Vec<ReferenceRow>,
    }
    let other: Other = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected the JSON rows of benches/torch_train.py steps or the JSON of `tfkd bench models --out`",
            path.display()
        )
    })?;
    // The mode's name only (`portable-avx2 (VAR=value, …)` → `portable-avx2`).
    let numerics =
        other.provenance.numerics.as_deref().and_then(|n| n.split_whitespace().next()).unwrap_or("unrecorded");
    Ok((other.rows, format!("tfkd with numerics {numerics}")))
}

/// Measures every model at every width on the context's device.
pub fn models(
    archs: &[Arch],
    widths: &[f64],
    batch: i64,
    seconds: f64,
    ctx: &Context,
    (reference, reference_label): (Vec<ReferenceRow>, String),
) -> anyhow::Result<ModelsReport> {
    let start = Instant::now();
    let mut provenance = tfkd_trainers::provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
    let mut rows = Vec::new();
    for &width in widths {
        for &arch in archs {
            let row = model(arch, width, batch, seconds, ctx.device)?;
            eprintln!("{:<18} width {:<6} {:>10.1} img/s", row.model, row.width, row.train_img_per_s);
            rows.push(row);
        }
    }
    provenance.finish(start.elapsed().as_secs_f64());
    Ok(ModelsReport { provenance, batch, rows, reference, reference_label })
}

impl ModelsReport {
    /// A Markdown table, with the reference's speed and the ratio where it measured the model, and a provenance line.
    #[must_use]
    pub fn markdown(&self) -> String {
        let p = &self.provenance;
        let where_ = if p.device.starts_with("cuda") {
            format!("GPU {}", p.device)
        } else {
            format!("this machine's CPU, {} threads", p.threads)
        };
        let mut out = format!(
            "Training throughput on {where_}: batch {}, 32×32 inputs, K = 10, SGD step included.\n\n",
            self.batch
        );
        if self.reference.is_empty() {
            out += "| model | width | params | train img/s |\n|---|---:|---:|---:|\n";
        } else {
            out += &format!(
                "| model | width | params | train img/s | reference ({}) img/s | ratio / reference |\n\
                 |---|---:|---:|---:|---:|---:|\n",
                self.reference_label
            );
        }
        for r in &self.rows {
            out += &format!(
                "| {} | {} | {} | {:.1} |",
                r.model,
                r.width,
                crate::models::thousands(r.params),
                r.train_img_per_s
            );
            if !self.reference.is_empty() {
                out += &match self.reference.iter().find(|x| x.model == r.model && x.width == r.width) {
                    Some(x) => format!(" {:.1} | {:.2}× |", x.train_img_per_s, r.train_img_per_s / x.train_img_per_s),
                    None => " — | — |".to_string(),
                };
            }
            out.push('\n');
        }
        let commit = p.git_commit.as_deref().map_or("unknown".to_string(), |c| {
            format!("{}{}", &c[..c.len().min(12)], if p.git_dirty == Some(true) { " (dirty)" } else { "" })
        });
        let numerics = p.numerics.as_deref().unwrap_or("unrecorded");
        let cpu = p.cpu.as_ref().map_or(String::new(), |c| format!(", CPU {c}"));
        out += &format!(
            "\ntfkd {}, commit {commit}, libtorch {}, numerics {numerics}, host {}{cpu}, {}.\n",
            p.tfkd_version, p.libtorch, p.host, p.started
        );
        out
    }
}

/// One row of the array benchmark: a model trained as one run, as a fused array of A runs, or as N packed
/// worker processes of one run each.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut step = || -> anyhow::Result<()> {
        let mut xs = Vec::with_capacity(members);
        let mut ys = Vec::with_capacity(members);
        for a in 0..members {
            let b = match iters[a].next() {
                Some(b) => b?,
                None => {
                    epochs[a] += 1;
                    iters[a] = loaders[a].epoch(epochs[a], 0);
                    iters[a].next().expect("an epoch has batches")?
                }
            };
            xs.push(b.images.to_device(device));
            ys.push(b.labels.to_device(device));
        }
        train.train(&xs, &ys, &losses, &[], &lr)?;
        Ok(())
    };
    for _ in 0..if device.is_cuda() { 5 } else { 1 } {
        step()?;
    }
    sync();
    let start = Instant::now();
    let mut steps = 0;
    while steps < 2 || start.elapsed().as_secs_f64() < seconds {
        step()?;
        steps += 1;
    }
    sync();
    Ok(((steps * batch * members) as f64 / start.elapsed().as_secs_f64(), steps))
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
            cmd.args(["bench", "array", "--models", &arch.to_string(), "--width", &width.to_string()])
                .args([
                    "--batch",
                    &batch.to_string(),
                    "--arrays",
                    "1",
                    "--packed",
                    "0",
                    "--seconds",
                    &seconds.to_string(),
                ])
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

/// What `tfkd bench array` measures: each model as one run at a time, as fused arrays and as packed processes.
#[derive(Debug, Clone)]
pub struct ArrayBench {
    /// Models.
    pub archs: Vec<Arch>,
    /// Width multiplier.
    pub width: f64,
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
    /// Measures every model, array size and process count; `reference` is the PyTorch loop's JSON lines.
    pub fn run(&self, ctx: &Context, reference: Option<&Path>) -> anyhow::Result<ArrayReport> {
        let start = Instant::now();
        let mut provenance = tfkd_trainers::provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
        let mut rows = Vec::new();
        for &arch in &self.archs {
            for &a in &self.arrays {
                let (ips, steps) = array_throughput(arch, self.width, self.batch, a, self.seconds, ctx.device)?;
                let mode = if a == 1 { "one run" } else { "array" };
                eprintln!("{arch:<14} {mode:<10} {a:>2} runs {ips:>10.1} img/s");
                rows.push(self.row(arch, mode, a, ips, steps));
            }
            for &n in self.packed.iter().filter(|&&n| n >= 2) {
                let (ips, steps) = packed_throughput(arch, self.width, self.batch, n, self.seconds, &self.device)?;
                eprintln!("{arch:<14} processes  {n:>2} runs {ips:>10.1} img/s");
                rows.push(self.row(arch, "processes", n, ips, steps));
            }
        }
        let reference = match reference {
            Some(path) => json_lines(path)?,
            None => Vec::new(),
        };
        provenance.finish(start.elapsed().as_secs_f64());
        Ok(ArrayReport { provenance, batch: self.batch, rows, reference })
    }

    /// As one packed worker: waits until `start_at` (Unix ms, shared by all workers), then times one run of
    /// the first model.
    pub fn worker(&self, start_at: u64, ctx: &Context) -> anyhow::Result<ArrayRow> {
        if let Some(t) = std::env::var("TFKD_BENCH_THREADS").ok().and_then(|t| t.parse().ok()) {
            tch::set_num_threads(t);
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
        std::thread::sleep(std::time::Duration::from_millis(start_at.saturating_sub(now)));
        let arch = *self.archs.first().context("no model to measure")?;
        let (ips, steps) = array_throughput(arch, self.width, self.batch, 1, self.seconds, ctx.device)?;
        Ok(self.row(arch, "one run", 1, ips, steps))
    }

    fn row(&self, arch: Arch, mode: &str, runs: usize, img_per_s: f64, steps: usize) -> ArrayRow {
        ArrayRow { model: arch.to_string(), width: self.width, mode: mode.into(), runs, img_per_s, steps }
    }
}

/// The JSON lines of `benches/torch_train.py timed`, one per model.
fn json_lines(path: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: expected JSON lines of benches/torch_train.py timed", path.display()))
}

/// What `tfkd bench array` measured, with provenance and the PyTorch reference's one-run rows.
#[derive(Debug, Serialize)]
pub struct ArrayReport {
    /// Version, commit, libtorch, device, threads, time.
    pub provenance: Provenance,
    /// Batch size per run.
    pub batch: usize,
    /// tfkd's rows.
    pub rows: Vec<ArrayRow>,
    /// The PyTorch reference's rows (`benches/torch_train.py timed`), one run at a time.
    pub reference: Vec<serde_json::Value>,
}

impl ArrayReport {
    /// A Markdown table: aggregate img/s per mode, the speed-up over one run at a time, the reference.
    #[must_use]
    pub fn markdown(&self) -> String {
        let p = &self.provenance;
        let mut out = format!(
            "Aggregate training throughput on {}: real cifar10-jpeg images with the official augmentation, batch {} \
             per run, SGD step included. \"× one run\" divides by tfkd's one-run-at-a-time speed measured in the \
             same invocation (the baseline: one process per run, one after another).\n\n",
            if p.device.starts_with("cuda") {
                format!("GPU {}", p.device)
            } else {
                format!("the CPU, {} threads", p.threads)
            },
            self.batch
        );
        out += "| model | width | mode | runs at once | img/s (all runs) | img/s per run | × one run |\n|---|---:|---|---:|---:|---:|---:|\n";
        for r in &self.rows {
            let base = self
                .rows
                .iter()
                .find(|b| b.model == r.model && b.width == r.width && b.mode == "one run")
                .map_or(f64::NAN, |b| b.img_per_s);
            out += &format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2}× |\n",
                r.model,
                r.width,
                r.mode,
                r.runs,
                r.img_per_s,
                r.img_per_s / r.runs as f64,
                r.img_per_s / base
            );
        }
        if !self.reference.is_empty() {
            out += "\nPyTorch reference (benches/torch_train.py timed: the official loop, DataLoader workers, one run):\n\n\
                    | model | width | img/s | tfkd one run / reference |\n|---|---:|---:|---:|\n";
            for r in &self.reference {
                let model = r["model"].as_str().unwrap_or("?");
                let ips = r["img_per_s"].as_f64().unwrap_or(f64::NAN);
                let ours = self
                    .rows
                    .iter()
                    .find(|b| b.model == model && b.mode == "one run")
                    .map_or(f64::NAN, |b| b.img_per_s);
                out += &format!("| {model} | {} | {ips:.1} | {:.2}× |\n", r["width"], ours / ips);
            }
        }
        let commit = p.git_commit.as_deref().map_or("unknown".to_string(), |c| {
            format!("{}{}", &c[..c.len().min(12)], if p.git_dirty == Some(true) { " (dirty)" } else { "" })
        });
        out += &format!(
            "\ntfkd {}, commit {commit}, libtorch {}, host {}, CPU {}, {}, {:.0} s.\n",
            p.tfkd_version,
            p.libtorch,
            p.host,
            p.cpu.as_deref().unwrap_or("unknown"),
            p.started,
            p.wall_seconds.unwrap_or(0.0)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--reference` takes PyTorch's rows or another tfkd report (whose numerics mode names the column), and a
    /// file that is neither is refused with what was expected.
    #[test]
    fn a_reference_is_pytorch_rows_or_another_tfkd_report() {
        let dir = tempfile::tempdir().unwrap();
        let torch = dir.path().join("torch.json");
        std::fs::write(&torch, r#"[{"model": "resnet18", "width": 1.0, "train_img_per_s": 50.5}]"#).unwrap();
        let (rows, label) = read_reference(&torch).unwrap();
        assert_eq!((rows.len(), rows[0].train_img_per_s, label.as_str()), (1, 50.5, "PyTorch"));

        let report = ModelsReport {
            provenance: Provenance::capture(
                "2.11.0",
                "cpu",
                "portable-avx2 (ATEN_CPU_CAPABILITY=avx2; MKL branch COMPATIBLE)",
                2,
            ),
            batch: 128,
            rows: vec![ModelRow { model: "cnn5".into(), width: 0.125, params: 5946, train_img_per_s: 900.0, steps: 3 }],
            reference: Vec::new(),
            reference_label: String::new(),
        };
        let ours = dir.path().join("ours.json");
        std::fs::write(&ours, serde_json::to_string(&report).unwrap()).unwrap();
        let (rows, label) = read_reference(&ours).unwrap();
        assert_eq!((rows[0].model.as_str(), rows[0].train_img_per_s), ("cnn5", 900.0));
        assert_eq!(label, "tfkd with numerics portable-avx2");

        let with = ModelsReport { reference: rows, reference_label: label, ..report };
        let table = with.markdown();
        assert!(
            table.contains("reference (tfkd with numerics portable-avx2) img/s") && table.contains("| 1.00× |"),
            "{table}"
        );

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"rows": 3}"#).unwrap();
        let err = format!("{:#}", read_reference(&bad).unwrap_err());
        assert!(err.contains("bad.json") && err.contains("benches/torch_train.py steps"), "{err}");
    }
}
