//! What the trainers' integration tests share.
#![allow(dead_code)]

pub mod arrays;

use std::{
    path::Path,
    sync::{atomic::AtomicBool, Arc},
};

use tch::Device;
use tfkd_trainers::{Context, Event, Observer};

/// A CPU context for tests: runs cached under `cache`, no interrupt.
pub fn cpu_context(cache: &Path) -> Context {
    Context {
        device: Device::Cpu,
        device_name: "cpu".into(),
        libtorch: "test".into(),
        numerics: "native".into(),
        cache_dir: cache.to_path_buf(),
        interrupt: Arc::new(AtomicBool::new(false)),
    }
}

/// A small seeded ImageFolder dataset under `root`: 10 classes (`c0`…`c9`) with `train` and `test` images
/// each of `side`×`side` RGB, a class-dependent offset on pseudo-random pixels so the classes can be learnt.
pub fn dataset(root: &Path, train: usize, test: usize, side: u32, seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    for (split, n) in [("train", train), ("test", test)] {
        for class in 0..10 {
            let dir = root.join(split).join(format!("c{class}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let pixels: Vec<u8> =
                    (0..side * side * 3).map(|p| next() / 2 + (class * 12 + p as usize % 7) as u8).collect();
                let file = std::fs::File::create(dir.join(format!("{i}.png"))).unwrap();
                let mut enc = png::Encoder::new(std::io::BufWriter::new(file), side, side);
                enc.set_color(png::ColorType::Rgb);
                enc.write_header().unwrap().write_image_data(&pixels).unwrap();
            }
        }
    }
}

/// An observer that ignores every event.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _: &Event) {}
}

/// The settings a one-epoch CPU test spec shares: `data` (from [`dataset`]) unaugmented, no validation split, batch
/// 20, one thread, the smallest width. Name, seeds, runs and profiles follow it.
pub fn one_epoch_settings(data: &Path) -> String {
    format!(
        r#"dataset: {{ source: imagefolder, path: "{}", augment: none, normalize: half, val_size: 0 }}
train: {{ epochs: 1, batch_size: 20, lr: 0.05, lr_batch_scaling: false, momentum: 0.9, weight_decay: 5.0e-4,
         milestones: [0.5], gamma: 0.2, threads: 1 }}
model: {{ width: 0.125 }}
"#,
        data.display()
    )
}
