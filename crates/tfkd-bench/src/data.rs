//! `tfkd bench data`: augmented images per second of the CPU input pipeline on cifar10-jpeg.

use std::{sync::Arc, time::Instant};

use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize, Source};
use tfkd_io::paths;

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
