//! `tfkd bench data --source imagenet`: tfkd's ImageNet training input pipeline against torchvision's on the
//! same files — throughput per core, where the time goes per stage, and how busy the machine was.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::Context as _;
use serde::Serialize;
use tfkd_datasets::{Augment, Loader, LoaderConfig, Normalize, Source};
use tfkd_io::paths;
use tfkd_trainers::provenance::Provenance;

use crate::{
    footer::provenance_line,
    proc::{cpu_seconds, machine_jiffies, others_busy},
    reference::TorchvisionData,
};

/// RandomResizedCrop(224), flip, normalise; batches assembled by the [`Loader`]) on an ILSVRC-format folder.
#[derive(Debug, Clone)]
pub struct ImagenetDataBench {
    /// The ILSVRC-format folder (`train/<wnid>/*.JPEG`, `val/`).
    pub folder: std::path::PathBuf,
    /// Train images to push through (the first ones in ImageFolder's order, as the reference takes them).
    pub images: usize,
    /// Batch size.
    pub batch: usize,
    /// rayon threads decoding and transforming (the reference's DataLoader workers).
    pub workers: usize,
}

/// What the images of an ImageNet data benchmark are, read from their headers (and the generator's
/// `synthetic.json`, when `benches/imagenet_images.py` wrote them).
#[derive(Debug, Serialize)]
pub struct ImageSet {
    /// Images timed.
    pub images: usize,
    /// Classes among them.
    pub classes: usize,
    /// Mean encoded size in bytes.
    pub mean_bytes: f64,
    /// Mean width × height in pixels.
    pub mean_pixels: f64,
    /// Encoded bits per pixel over all the images.
    pub bits_per_pixel: f64,
    /// Images per format and colour layout (`JPEG RGB`, …).
    pub formats: std::collections::BTreeMap<String, usize>,
    /// The folder's `synthetic.json` (how the images were made), if it has one.
    pub generator: Option<serde_json::Value>,
}

/// Milliseconds per image of each stage of the ImageNet pipeline on one thread, outside batching.
#[derive(Debug, Default, Serialize)]
pub struct Stages {
    /// Reading the file (page cache warm).
    pub read: f64,
    /// JPEG → RGB pixels of the window RandomResizedCrop reads (with the draws, made from the header's size).
    pub decode: f64,
    /// RandomResizedCrop(224) (the key keeps the reference's name; tfkd flips while normalising).
    pub crop_resize_flip: f64,
    /// The horizontal flip with bytes to normalised floats (ToTensor + Normalize).
    pub to_tensor_normalize: f64,
    /// Images timed.
    pub images: usize,
}

/// What `tfkd bench data --source imagenet` measured, with provenance and the torchvision reference's JSON
/// (`benches/torchvision_imagenet_data.py`) measured on the same files.
#[derive(Debug, Serialize)]
pub struct ImagenetDataReport {
    /// Version, commit, libtorch, device, threads, time.
    pub provenance: Provenance,
    /// The folder read.
    pub folder: String,
    /// Its layout, in words.
    pub layout: String,
    /// The images.
    pub image_set: ImageSet,
    /// Batch size.
    pub batch: usize,
    /// rayon threads.
    pub workers: usize,
    /// The transform, in words.
    pub transform: String,
    /// Augmented images per second of the timed epoch.
    pub img_per_s: f64,
    /// `img_per_s` ÷ `workers`.
    pub img_per_s_per_core: f64,
    /// Seconds of the timed epoch.
    pub seconds: f64,
    /// CPU seconds the process used in the timed epoch ÷ its seconds: how many cores it kept busy.
    pub cores_busy: f64,
    /// The machine's cores (available parallelism).
    pub cores: usize,
    /// Cores that other processes kept busy in the timed epoch: the machine's busy CPU (`/proc/stat`) less
    /// this process's.
    pub other_cores_busy: Option<f64>,
    /// Per-stage times on one thread.
    pub stages_ms: Stages,
    /// `/proc/loadavg` when timing started (other work on the machine slows both pipelines).
    pub load_average: Option<String>,
    /// The reference's JSON, if given.
    pub reference: Option<TorchvisionData>,
    /// tfkd's img/s per core ÷ the reference's.
    pub ratio_per_core: Option<f64>,
    /// The ratio per core the pipeline is meant to reach.
    pub goal_ratio_per_core: f64,
}

/// What tfkd's ImageNet pipeline is meant to reach against torchvision's, per core.
pub const IMAGENET_DATA_GOAL: f64 = 2.0;

impl ImagenetDataBench {
    /// Indexes the folder, warms the page cache, times each stage on one thread, then one shuffled epoch
    /// through the [`Loader`] on `workers` rayon threads; `reference` is the torchvision script's JSON.
    pub fn run(
        &self,
        mut provenance: Provenance,
        reference: Option<TorchvisionData>,
    ) -> anyhow::Result<ImagenetDataReport> {
        let start = Instant::now();
        if rayon::ThreadPoolBuilder::new().num_threads(self.workers).build_global().is_err()
            && rayon::current_num_threads() != self.workers
        {
            anyhow::bail!("rayon already runs {} threads, not {}", rayon::current_num_threads(), self.workers);
        }
        let ds =
            Source::at(tfkd_datasets::SourceName::Imagenet, self.folder.clone()).load_encoded(&paths::cache_dir())?;
        let n = self.images.min(ds.train.len());
        let split = ds.train.select(&(0..n).collect::<Vec<_>>());
        let image_set = image_set(&split, &self.folder)?; // reads every file: the page cache is warm
        let config = LoaderConfig {
            batch_size: self.batch,
            shuffle: true,
            augment: Augment::imagenet_official(),
            normalize: Normalize::imagenet_official(),
            seed: 0,
            prefetch: 2,
        };
        let stages_ms = stages(&split, &config, 200)?;
        let loader = Loader::new(Arc::new(split), config)?;
        if let Some(first) = loader.plan(99).first() {
            loader.assemble(first, 99)?; // warm the thread pool and its buffers, on this thread
        }
        let load_average = std::fs::read_to_string("/proc/loadavg").ok().map(|l| l.trim().to_string());
        let (timed, cpu, machine) = (Instant::now(), cpu_seconds(), machine_jiffies());
        let mut images = 0;
        for batch in loader.epoch(0, 0) {
            images += batch?.labels.size()[0] as usize;
        }
        let seconds = timed.elapsed().as_secs_f64();
        let cores_busy = (cpu_seconds() - cpu) / seconds;
        let other_cores_busy = others_busy(machine, cores_busy);
        let img_per_s = images as f64 / seconds;
        let img_per_s_per_core = img_per_s / self.workers as f64;
        let ratio_per_core = reference.as_ref().map(|r| img_per_s_per_core / r.per_core());
        provenance.finish(start.elapsed().as_secs_f64());
        Ok(ImagenetDataReport {
            provenance,
            folder: self.folder.display().to_string(),
            layout: ds.layout,
            image_set,
            batch: self.batch,
            workers: self.workers,
            transform:
                "decode → RandomResizedCrop(224) → RandomHorizontalFlip → ToTensor → Normalize(ImageNet mean/std)"
                    .into(),
            img_per_s,
            img_per_s_per_core,
            seconds,
            cores_busy,
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            other_cores_busy,
            stages_ms,
            load_average,
            reference,
            ratio_per_core,
            goal_ratio_per_core: IMAGENET_DATA_GOAL,
        })
    }
}

/// Reads every image of `split` once (so the page cache holds them) and sums up what they are.
fn image_set(split: &tfkd_datasets::EncodedSplit, folder: &Path) -> anyhow::Result<ImageSet> {
    let (mut bytes, mut pixels) = (0u64, 0u64);
    let mut formats = std::collections::BTreeMap::new();
    for i in 0..split.len() {
        let data = split.bytes(i)?;
        bytes += data.len() as u64;
        let kind = tfkd_datasets::image_kind(&data);
        pixels += kind.map_or(0, |k| u64::from(k.size[0]) * u64::from(k.size[1]));
        *formats.entry(kind.map_or_else(|| "unrecognised".to_string(), |k| k.to_string())).or_insert(0) += 1;
    }
    let generator = match std::fs::read_to_string(folder.join("synthetic.json")) {
        Ok(text) => Some(serde_json::from_str(&text).context("synthetic.json")?),
        Err(_) => None,
    };
    let images = split.len().max(1) as f64;
    Ok(ImageSet {
        images: split.len(),
        classes: split
            .histogram(usize::from(split.labels.iter().max().map_or(0, |&l| l + 1)))
            .iter()
            .filter(|&&c| c > 0)
            .count(),
        mean_bytes: bytes as f64 / images,
        mean_pixels: pixels as f64 / images,
        bits_per_pixel: 8.0 * bytes as f64 / pixels.max(1) as f64,
        formats,
        generator,
    })
}

/// Milliseconds per image of each stage on this thread, over up to `count` images spread through `split`, as
/// the loader runs them: the draws are made from the header's size and only the window they read is decoded.
/// The third stage is crop and resize alone; the fourth, the whole transform's time less the third's, is the
/// flip (done while normalising) with ToTensor and Normalize.
fn stages(split: &tfkd_datasets::EncodedSplit, config: &LoaderConfig, count: usize) -> anyhow::Result<Stages> {
    use tfkd_datasets::transform;
    let picks: Vec<usize> = (0..split.len()).step_by((split.len() / count.max(1)).max(1)).take(count).collect();
    let ops = &config.augment.ops;
    let [h, w] = transform::output_size(ops, [256, 256])?;
    let mut out = vec![0f32; 3 * h * w];
    let mut t = [0f64; 4];
    for &i in &picks {
        let t0 = Instant::now();
        let bytes = split.bytes(i)?;
        let t1 = Instant::now();
        let (window, draws) = transform::decode_drawn(&bytes, &split.name(i), ops, config.seed, 0, i as u64)?;
        let t2 = Instant::now();
        // The flip is done while normalising (transform_window): crop and resize alone here.
        let resampling = ops.len() - usize::from(matches!(ops.last(), Some(tfkd_datasets::Op::Flip)));
        std::hint::black_box(transform::transform_window_u8(&window, &ops[..resampling], &draws[..resampling])?);
        let t3 = Instant::now();
        transform::transform_window(&window, ops, &draws, &config.normalize, &mut out)?;
        let t4 = Instant::now();
        let crop = (t3 - t2).as_secs_f64();
        for (slot, dt) in
            t.iter_mut().zip([(t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), crop, (t4 - t3).as_secs_f64() - crop])
        {
            *slot += dt;
        }
    }
    let ms = |s: f64| 1000.0 * s / picks.len().max(1) as f64;
    Ok(Stages {
        read: ms(t[0]),
        decode: ms(t[1]),
        crop_resize_flip: ms(t[2]),
        to_tensor_normalize: ms(t[3]).max(0.0),
        images: picks.len(),
    })
}

impl ImagenetDataReport {
    /// A Markdown report: what was timed on which images, both pipelines' img/s and img/s per core, the ratio
    /// against the goal, where the time goes per stage, and a provenance line.
    #[must_use]
    pub fn markdown(&self) -> String {
        let p = &self.provenance;
        let s = &self.image_set;
        let mut out = format!(
            "ImageNet training input pipeline on this machine's CPU ({}, {} cores): tfkd against torchvision's DataLoader on \
             the same {} JPEG files, {} workers each (tfkd: rayon threads; torchvision: worker processes), batch {}, \
             shuffled. Both: {}. Both read every file once before timing (page cache warm); one epoch timed. \
             Per core = img/s ÷ {}.\n\n",
            p.cpu.as_deref().unwrap_or("unknown"),
            self.cores,
            s.images,
            self.workers,
            self.batch,
            self.transform,
            self.workers
        );
        let what = s.generator.as_ref().and_then(|g| g["description"].as_str()).map_or_else(
            || format!("the ImageNet folder {} ({})", self.folder, self.layout),
            |d| {
                format!(
                    "{d}, written by benches/imagenet_images.py (seed {})",
                    s.generator.as_ref().map_or(0, |g| g["seed"].as_i64().unwrap_or(0))
                )
            },
        );
        let formats: Vec<String> = s.formats.iter().map(|(k, n)| format!("{n} {k}")).collect();
        out += &format!(
            "Images: {what}. {} train images in {} classes: mean {:.0} kpixels (500 × 375 is 188), {:.1} kB, \
             {:.2} bits/pixel; {}.\n\n",
            s.images,
            s.classes,
            s.mean_pixels / 1000.0,
            s.mean_bytes / 1000.0,
            s.bits_per_pixel,
            formats.join(", ")
        );
        out += &self.throughput_markdown();
        out += &self.stages_markdown();
        let load = self.load_average.as_deref().unwrap_or("unknown");
        out += &format!("\nLoad average when timing started: {load}.\n\n{}\n", provenance_line(p));
        out
    }

    /// The throughput table (both pipelines, img/s and per core) and the ratio against the goal.
    fn throughput_markdown(&self) -> String {
        let p = &self.provenance;
        let reference = self.reference.as_ref();
        let field = |v: Option<&String>| v.map_or("?", String::as_str).to_string();
        let mut out = "| pipeline | workers | img/s | img/s per core | cores busy | × torchvision per core |\n\
             |---|---:|---:|---:|---:|---:|\n"
            .to_string();
        let ratio = self.ratio_per_core.map_or("—".to_string(), |r| format!("{r:.2}×"));
        out += &format!(
            "| tfkd {} (libjpeg-turbo decoder via mozjpeg) | {} | {:.1} | {:.1} | {:.2} | {ratio} |\n",
            p.tfkd_version, self.workers, self.img_per_s, self.img_per_s_per_core, self.cores_busy
        );
        if let Some(r) = reference {
            out += &format!(
                "| torchvision {} + Pillow {} (libjpeg-turbo {}) | {} | {:.1} | {:.1} | {:.2} | 1.00× |\n",
                field(r.torchvision.as_ref()),
                field(r.pillow.as_ref()),
                field(r.libjpeg.as_ref()),
                r.workers,
                r.img_per_s,
                r.per_core(),
                r.cores_busy.unwrap_or(f64::NAN)
            );
        }
        out += "\nCores busy: CPU seconds used in the timed epoch (tfkd's process; torchvision's main process and \
                workers) ÷ its seconds.\n";
        let others = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.2}"));
        out += &format!(
            "Other processes kept {} cores busy during tfkd's timed epoch and {} during torchvision's (the \
             machine's busy CPU in /proc/stat less the pipeline's own).\n",
            others(self.other_cores_busy),
            others(reference.and_then(|r| r.other_cores_busy))
        );
        out += &match self.ratio_per_core {
            Some(r) => format!(
                "\nGoal: tfkd ≥ {:.2}× torchvision's img/s per core. Measured: {r:.2}× — {}.\n",
                self.goal_ratio_per_core,
                if r >= self.goal_ratio_per_core { "met" } else { "not met" }
            ),
            None => format!(
                "\nGoal: tfkd ≥ {:.2}× torchvision's img/s per core (no reference given).\n",
                self.goal_ratio_per_core
            ),
        };
        out
    }

    /// The per-stage table: milliseconds per image on one core, beside the reference's.
    fn stages_markdown(&self) -> String {
        let st = &self.stages_ms;
        let theirs = self.reference.as_ref().map(|r| &r.stages_ms);
        let their = |key: &str| theirs.and_then(|t| t.get(key).copied());
        let cell = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2}"));
        let keys = ["read", "decode", "crop_resize_flip", "to_tensor_normalize"];
        let ours = [st.read, st.decode, st.crop_resize_flip, st.to_tensor_normalize];
        let mut out = format!(
            "\nWhere the time goes: ms per image on one core (one thread or process, {} of the images, outside \
             batching), and the pipeline's measured ms per image per core (1000 ÷ img/s per core: the stages plus \
             batching, collation and hand-over):\n\n\
             | stage | tfkd ms | torchvision ms | tfkd ÷ torchvision |\n|---|---:|---:|---:|\n",
            st.images
        );
        let labels = [
            "read the file",
            "decode (JPEG → RGB; tfkd: the crop's window)",
            "RandomResizedCrop(224) (torchvision: + flip)",
            "ToTensor + Normalize (tfkd: + flip)",
        ];
        for ((label, key), ours) in labels.iter().zip(keys).zip(ours) {
            let t = their(key);
            out += &format!("| {label} | {ours:.2} | {} | {} |\n", cell(t), cell(t.map(|t| ours / t)));
        }
        let sum: f64 = ours.iter().sum();
        let their_sum = theirs.map(|_| keys.into_iter().filter_map(their).sum::<f64>());
        out += &format!("| sum | {sum:.2} | {} | {} |\n", cell(their_sum), cell(their_sum.map(|t| sum / t)));
        let their_pipe = self.reference.as_ref().map(|r| 1000.0 / r.per_core());
        let ours_pipe = 1000.0 / self.img_per_s_per_core;
        out += &format!(
            "| pipeline (measured) | {ours_pipe:.2} | {} | {} |\n",
            cell(their_pipe),
            cell(their_pipe.map(|t| ours_pipe / t))
        );
        out
    }
}
