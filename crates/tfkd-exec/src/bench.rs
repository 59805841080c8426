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

/// What `tfkd bench data --source imagenet` measures: tfkd's ImageNet training pipeline (read, decode,
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
    /// JPEG → RGB pixels.
    pub decode: f64,
    /// RandomResizedCrop(224) and the horizontal flip (their draws included).
    pub crop_resize_flip: f64,
    /// Bytes to normalised floats (ToTensor + Normalize).
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
    pub reference: Option<serde_json::Value>,
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
        reference: Option<serde_json::Value>,
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
        let ratio_per_core = reference.as_ref().and_then(reference_per_core).map(|r| img_per_s_per_core / r);
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

/// CPU seconds (user and system) this process has used so far; NaN if the system does not say.
fn cpu_seconds() -> f64 {
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the struct it is handed, which lives through the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Busy and total jiffies of all CPUs together, and the number of CPUs, from `/proc/stat`; `None` without it.
fn machine_jiffies() -> Option<(u64, u64, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let cpus =
        stat.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    Some((total.saturating_sub(idle), total, cpus))
}

/// Cores other processes kept busy since `before` (from [`machine_jiffies`]), this process having kept `ours`.
fn others_busy(before: Option<(u64, u64, usize)>, ours: f64) -> Option<f64> {
    let ((b0, t0, cpus), (b1, t1, _)) = (before?, machine_jiffies()?);
    let busy = b1.saturating_sub(b0) as f64 / t1.saturating_sub(t0).max(1) as f64 * cpus as f64;
    Some((busy - ours).max(0.0))
}

/// The reference's images/s per worker: `img_per_s` ÷ `workers` of `benches/torchvision_imagenet_data.py`'s JSON.
fn reference_per_core(reference: &serde_json::Value) -> Option<f64> {
    let ips = reference["img_per_s"].as_f64()?;
    Some(ips / reference["workers"].as_f64().unwrap_or(1.0).max(1.0))
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

/// Milliseconds per image of each stage on this thread, over up to `count` images spread through `split`.
/// ToTensor + Normalize is the whole transform's time less that of crop, resize and flip alone.
fn stages(split: &tfkd_datasets::EncodedSplit, config: &LoaderConfig, count: usize) -> anyhow::Result<Stages> {
    use tfkd_datasets::{decode::decode_rgb, transform};
    let picks: Vec<usize> = (0..split.len()).step_by((split.len() / count.max(1)).max(1)).take(count).collect();
    let ops = &config.augment.ops;
    let [h, w] = transform::output_size(ops, [256, 256])?;
    let mut out = vec![0f32; 3 * h * w];
    let mut t = [0f64; 4];
    for &i in &picks {
        let t0 = Instant::now();
        let bytes = split.bytes(i)?;
        let t1 = Instant::now();
        let img = decode_rgb(&bytes, &split.name(i))?;
        let t2 = Instant::now();
        let draws = transform::draws(ops, [img.height() as usize, img.width() as usize], config.seed, 0, i as u64)?;
        std::hint::black_box(transform::transform_rgb_u8(&img, ops, &draws)?);
        let t3 = Instant::now();
        transform::transform_rgb(&img, ops, &draws, &config.normalize, &mut out)?;
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
        let field = |key: &str| reference.and_then(|r| r[key].as_str()).unwrap_or("?").to_string();
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
                field("torchvision"),
                field("pillow"),
                field("libjpeg"),
                r["workers"],
                r["img_per_s"].as_f64().unwrap_or(f64::NAN),
                reference_per_core(r).unwrap_or(f64::NAN),
                r["cores_busy"].as_f64().unwrap_or(f64::NAN)
            );
        }
        out += "\nCores busy: CPU seconds used in the timed epoch (tfkd's process; torchvision's main process and \
                workers) ÷ its seconds.\n";
        let others = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.2}"));
        out += &format!(
            "Other processes kept {} cores busy during tfkd's timed epoch and {} during torchvision's (the \
             machine's busy CPU in /proc/stat less the pipeline's own).\n",
            others(self.other_cores_busy),
            others(reference.and_then(|r| r["other_cores_busy"].as_f64()))
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
        let theirs = self.reference.as_ref().map(|r| &r["stages_ms"]);
        let their = |key: &str| theirs.and_then(|t| t[key].as_f64());
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
        let labels = ["read the file", "decode (JPEG → RGB)", "RandomResizedCrop(224) + flip", "ToTensor + Normalize"];
        for ((label, key), ours) in labels.iter().zip(keys).zip(ours) {
            let t = their(key);
            out += &format!("| {label} | {ours:.2} | {} | {} |\n", cell(t), cell(t.map(|t| ours / t)));
        }
        let sum: f64 = ours.iter().sum();
        let their_sum = theirs.map(|_| keys.into_iter().filter_map(their).sum::<f64>());
        out += &format!("| sum | {sum:.2} | {} | {} |\n", cell(their_sum), cell(their_sum.map(|t| sum / t)));
        let their_pipe = self.reference.as_ref().and_then(reference_per_core).map(|r| 1000.0 / r);
        let ours_pipe = 1000.0 / self.img_per_s_per_core;
        out += &format!(
            "| pipeline (measured) | {ours_pipe:.2} | {} | {} |\n",
            cell(their_pipe),
            cell(their_pipe.map(|t| ours_pipe / t))
        );
        out
    }
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
        out += &format!("\n{}\n", provenance_line(p));
        out
    }
}

/// The provenance sentence under a benchmark's table: tfkd's version and commit, libtorch, host, CPU, start
/// and wall time.
fn provenance_line(p: &Provenance) -> String {
    let commit = p.git_commit.as_deref().map_or("unknown".to_string(), |c| {
        format!("{}{}", &c[..c.len().min(12)], if p.git_dirty == Some(true) { " (dirty)" } else { "" })
    });
    format!(
        "tfkd {}, commit {commit}, libtorch {}, host {}, CPU {}, {}, {:.0} s.",
        p.tfkd_version,
        p.libtorch,
        p.host,
        p.cpu.as_deref().unwrap_or("unknown"),
        p.started,
        p.wall_seconds.unwrap_or(0.0)
    )
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
