//! `tfkd bench`: measured throughput of the input pipeline and of model training on this machine.

use std::{sync::Arc, time::Instant};

use serde::Serialize;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};
use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize, Source};
use tfkd_models::{Arch, ModelConfig, Network};

use tfkd_trainers::{provenance::Provenance, Context};

use crate::paths;

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
    let vs = nn::VarStore::new(device);
    let net = Network::build(&vs, arch, ModelConfig { width, ..ModelConfig::new(10) })?;
    let mut opt = nn::Sgd { momentum: 0.9, wd: 5e-4, ..Default::default() }.build(&vs, 0.1)?;
    let x = Tensor::randn([batch, 3, 32, 32], (Kind::Float, device));
    let y = Tensor::randint(10, [batch], (Kind::Int64, device));
    let mut step = || opt.backward_step(&net.forward(&x, true).cross_entropy_for_logits(&y));
    let sync = || {
        if let Device::Cuda(_) = device {
            tch::Cuda::synchronize(0);
        }
    };
    // Warm-up: allocator, cuDNN algorithm choice (GPU kernels are lazy to load).
    for _ in 0..if device.is_cuda() { 5 } else { 1 } {
        step();
    }
    sync();
    let max_steps = if device.is_cuda() { 2_000 } else { 20 };
    let start = Instant::now();
    let mut steps = 0;
    while steps < 2 || (start.elapsed().as_secs_f64() < max_seconds && steps < max_steps) {
        step();
        steps += 1;
        if steps % 10 == 0 {
            sync();
        }
    }
    sync();
    Ok(ModelRow {
        model: arch.to_string(),
        width,
        params: tfkd_models::parameter_count(&vs),
        train_img_per_s: (steps as i64 * batch) as f64 / start.elapsed().as_secs_f64(),
        steps,
    })
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
    /// The PyTorch reference's rows.
    pub reference: Vec<ReferenceRow>,
}

/// Measures every model at every width on the context's device.
pub fn models(
    archs: &[Arch],
    widths: &[f64],
    batch: i64,
    seconds: f64,
    ctx: &Context,
    reference: Vec<ReferenceRow>,
) -> anyhow::Result<ModelsReport> {
    let start = Instant::now();
    let mut provenance = Provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
    let mut rows = Vec::new();
    for &width in widths {
        for &arch in archs {
            let row = model(arch, width, batch, seconds, ctx.device)?;
            eprintln!("{:<18} width {:<6} {:>10.1} img/s", row.model, row.width, row.train_img_per_s);
            rows.push(row);
        }
    }
    provenance.finish(start.elapsed().as_secs_f64());
    Ok(ModelsReport { provenance, batch, rows, reference })
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
            out += "| model | width | params | train img/s | PyTorch reference img/s | ratio tfkd / reference |\n|---|---:|---:|---:|---:|---:|\n";
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
        out += &format!(
            "\ntfkd {}, commit {commit}, libtorch {}, host {}, {}.\n",
            p.tfkd_version, p.libtorch, p.host, p.started
        );
        out
    }
}
