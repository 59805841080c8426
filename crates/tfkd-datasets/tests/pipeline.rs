//! Augmentation and loading: determinism and CPU/device agreement.

mod common;

use std::sync::Arc;

use tch::{Device, Kind, Tensor};
use tfkd_datasets::{Augment, DeviceSplit, Interpolation, Loader, LoaderConfig, Normalize, Split};

/// 64 random-looking 3×32×32 images with 10 classes.
fn split() -> Split {
    let chw = [3, 32, 32];
    Split {
        images: (0..64).flat_map(|i| common::planar(i, chw)).collect(),
        labels: (0..64).map(|i| (i % 10) as u16).collect(),
        chw,
        coarse_labels: None,
    }
}

fn config(batch_size: usize, prefetch: usize, augment: Augment) -> LoaderConfig {
    LoaderConfig { batch_size, shuffle: true, augment, normalize: Normalize::cifar_official(), seed: 230, prefetch }
}

/// Augmented pixels of every sample of an epoch, keyed by sample index.
fn epoch_pixels(loader: &Loader, epoch: u64) -> Vec<(usize, Tensor)> {
    let mut out: Vec<(usize, Tensor)> = Vec::new();
    for batch in loader.epoch(epoch, 0) {
        let batch = batch.unwrap();
        for (k, &i) in batch.indices.iter().enumerate() {
            out.push((i, batch.images.get(k as i64)));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

#[test]
fn samples_do_not_depend_on_batch_size_prefetch_or_threads() {
    let s = Arc::new(split());
    let reference = epoch_pixels(&Loader::new(s.clone(), config(16, 0, Augment::cifar_official())).unwrap(), 3);
    let other = epoch_pixels(&Loader::new(s.clone(), config(7, 2, Augment::cifar_official())).unwrap(), 3);
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let single = one_thread
        .install(|| epoch_pixels(&Loader::new(s.clone(), config(64, 0, Augment::cifar_official())).unwrap(), 3));
    for ((i, a), ((_, b), (_, c))) in reference.iter().zip(other.iter().zip(&single)) {
        assert!(a.equal(b) && a.equal(c), "sample {i} differs");
    }
    let next_epoch = epoch_pixels(&Loader::new(s, config(16, 0, Augment::cifar_official())).unwrap(), 4);
    assert!(!reference[0].1.equal(&next_epoch[0].1), "a new epoch draws new augmentations");
}

#[test]
fn shuffle_and_resume_skip() {
    let s = Arc::new(split());
    let loader = Loader::new(s, config(10, 1, Augment::none())).unwrap();
    assert_eq!(loader.batches_per_epoch(), 7, "the last, smaller batch is kept");
    let plan = loader.plan(0);
    assert_ne!(plan[0], (0..10).collect::<Vec<_>>(), "shuffled");
    assert_eq!(plan, loader.plan(0));
    let resumed: Vec<Vec<usize>> = loader.epoch(0, 4).map(|b| b.unwrap().indices).collect();
    assert_eq!(resumed, plan[4..].to_vec());
}

#[test]
fn no_augmentation_is_plain_normalisation() {
    let s = Arc::new(split());
    let mut cfg = config(64, 0, Augment::none());
    cfg.shuffle = false;
    let batch = Loader::new(s.clone(), cfg).unwrap().epoch(0, 0).next().unwrap().unwrap();
    let raw = Tensor::from_slice(&s.images).view([64, 3, 32, 32]).to_kind(Kind::Float) / 255.0;
    let mean = Tensor::from_slice(&Normalize::cifar_official().mean).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&Normalize::cifar_official().std).view([1, 3, 1, 1]);
    assert!(batch.images.allclose(&((raw - mean) / std), 1e-5, 1e-5, false));
    assert_eq!(Vec::<i64>::try_from(&batch.labels).unwrap(), (0..64).map(|i| i % 10).collect::<Vec<i64>>());
}

/// The device path (tch ops; here on the CPU device) reproduces the CPU path's pixels.
#[test]
fn device_path_matches_cpu_path() {
    let s = Arc::new(split());
    let indices: Vec<usize> = (0..64).collect();
    let device_split = DeviceSplit::new(&s, Device::Cpu).unwrap();
    for (interp, ops) in [
        (Interpolation::Bilinear, Augment::cifar_official().ops),
        (Interpolation::Nearest, Augment::cifar_official().ops),
        (Interpolation::Bilinear, Augment::tiny_imagenet_official().ops),
    ] {
        let augment = Augment { ops, interpolation: interp };
        let mut cfg = config(64, 0, augment.clone());
        cfg.shuffle = false;
        let cpu = Loader::new(s.clone(), cfg).unwrap().assemble(&indices, 5).unwrap();
        let (dev, labels) = device_split.batch(&indices, &augment, 230, 5, &Normalize::cifar_official()).unwrap();
        assert!(labels.equal(&cpu.labels));
        // In pixel units (0–255): one normalised unit is ~1/(255·0.27). Both paths sample through the same
        // maps, so only the float rounding of the normalisation may differ.
        let diff = ((dev - &cpu.images) * (255.0 * 0.27)).abs();
        let max = diff.max().double_value(&[]);
        assert!(max < 1e-3, "{interp:?}: the paths differ by up to {max} grey levels");
    }
}

#[test]
fn bad_loader_config_is_an_error() {
    let s = Arc::new(split());
    assert!(Loader::new(s.clone(), config(0, 0, Augment::none())).is_err());
    let mut cfg = config(8, 0, Augment::none());
    cfg.normalize = Normalize::half(1);
    let err = Loader::new(s, cfg).unwrap_err();
    assert!(err.to_string().contains("normalisation has 1 channels, images have 3"), "{err}");
}
