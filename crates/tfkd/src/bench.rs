//! `tfkd bench`: measured throughput of the input pipeline and of model training on this machine.

use std::{sync::Arc, time::Instant};

use serde::Serialize;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};
use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize, Source};
use tfkd_models::{Arch, ModelConfig, Network};

use crate::paths;

/// Throughput of the CPU augmentation pipeline on `images` images of cifar10-jpeg (decode cache warm).
pub fn data(images: usize, batch_size: usize) -> anyhow::Result<f64> {
    let ds = Source::named("cifar10-jpeg", &paths::data_dir())?.load(&paths::cache_dir())?;
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

/// Training throughput of `arch` at `width` with batch `batch` on the CPU, with all threads.
pub fn model(arch: Arch, width: f64, batch: i64, max_seconds: f64) -> anyhow::Result<ModelRow> {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, arch, ModelConfig { width, ..ModelConfig::new(10) })?;
    let mut opt = nn::Sgd { momentum: 0.9, wd: 5e-4, ..Default::default() }.build(&vs, 0.1)?;
    let x = Tensor::randn([batch, 3, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [batch], (Kind::Int64, Device::Cpu));
    let mut step = || opt.backward_step(&net.forward(&x, true).cross_entropy_for_logits(&y));
    step(); // warm-up
    let start = Instant::now();
    let mut steps = 0;
    while steps < 2 || (start.elapsed().as_secs_f64() < max_seconds && steps < 20) {
        step();
        steps += 1;
        if start.elapsed().as_secs_f64() > max_seconds {
            break;
        }
    }
    Ok(ModelRow {
        model: arch.to_string(),
        width,
        params: tfkd_models::parameter_count(&vs),
        train_img_per_s: (steps as i64 * batch) as f64 / start.elapsed().as_secs_f64(),
        steps,
    })
}

/// Renders model rows as a Markdown table.
#[must_use]
pub fn models_markdown(rows: &[ModelRow], batch: i64, threads: i32) -> String {
    let mut out = format!(
        "Training throughput on this machine's CPU: batch {batch}, 32×32 inputs, K = 10, SGD step included, {threads} threads.\n\n\
         | model | width | params | train img/s |\n|---|---:|---:|---:|\n"
    );
    for r in rows {
        out += &format!("| {} | {} | {} | {:.1} |\n", r.model, r.width, crate::models::thousands(r.params), r.train_img_per_s);
    }
    out
}
