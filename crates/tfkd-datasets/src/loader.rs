//! Batches for training and evaluation: shuffled by (seed, epoch), augmented per sample in parallel
//! (rayon) straight into the batch's tensor and prefetched on a background thread while the model trains.
//! That thread's only libtorch call is `Tensor::empty`, which starts no OpenMP team there to compete with
//! the training step's.
//!
//! The images are a decoded [`Split`] (fixed-size u8 pixels, augmented by [`crate::augment`]) or an
//! [`EncodedSplit`] (ImageNet: each image is read, the window its draws read is decoded by
//! [`crate::decode::decode_rgb_window`] and transformed by [`crate::transform`] when its batch is assembled). Either way the
//! draws for sample i in epoch e depend on (seed, e, i) only.

use std::sync::{mpsc, Arc};

use rayon::prelude::*;
use tch::Tensor;

use crate::{
    augment::{apply, Augment, Normalize, Op},
    encoded::EncodedSplit,
    error::{DataError, Result},
    rng::epoch_order,
    split::Split,
    transform,
};

/// One batch: N×C×H×W f32 images (CPU), N i64 labels, and the sample indices they came from.
#[derive(Debug)]
pub struct Batch {
    /// Normalised images.
    pub images: Tensor,
    /// Labels.
    pub labels: Tensor,
    /// Indices into the split.
    pub indices: Vec<usize>,
}

/// How batches are drawn from a split.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Images per batch (the last batch may be smaller, as the official loaders keep it).
    pub batch_size: usize,
    /// Shuffle with [`epoch_order`]; off for evaluation.
    pub shuffle: bool,
    /// Augmentation (use [`Augment::none`] for evaluation). For encoded images, the whole transform, which must
    /// end at a fixed size: training `Augment::imagenet_official()` (RandomResizedCrop(224) → flip), evaluation
    /// `Augment::imagenet_evaluation()` (Resize(256) → CenterCrop(224)); see `Augment::evaluation`.
    pub augment: Augment,
    /// Normalisation.
    pub normalize: Normalize,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
    /// Batches prepared ahead of the consumer (0 = assemble on the calling thread).
    pub prefetch: usize,
}

/// The images a loader draws from.
#[derive(Debug, Clone)]
pub enum Images {
    /// Decoded, fixed-size images in memory.
    Decoded(Arc<Split>),
    /// Encoded images read and decoded per batch (ImageNet).
    Encoded(Arc<EncodedSplit>),
}

impl From<Arc<Split>> for Images {
    fn from(split: Arc<Split>) -> Self {
        Images::Decoded(split)
    }
}

impl From<Split> for Images {
    fn from(split: Split) -> Self {
        Images::Decoded(Arc::new(split))
    }
}

impl From<Arc<EncodedSplit>> for Images {
    fn from(split: Arc<EncodedSplit>) -> Self {
        Images::Encoded(split)
    }
}

impl From<EncodedSplit> for Images {
    fn from(split: EncodedSplit) -> Self {
        Images::Encoded(Arc::new(split))
    }
}

impl Images {
    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Images::Decoded(s) => s.len(),
            Images::Encoded(s) => s.len(),
        }
    }

    /// Whether there are no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One label per image.
    #[must_use]
    pub fn labels(&self) -> &[u16] {
        match self {
            Images::Decoded(s) => &s.labels,
            Images::Encoded(s) => &s.labels,
        }
    }
}

/// Assembles the batches of a split.
#[derive(Debug, Clone)]
pub struct Loader {
    images: Images,
    config: LoaderConfig,
    /// Channels, height and width of every assembled image.
    chw: [usize; 3],
}

impl Loader {
    /// A loader over `images` (a decoded `Arc<Split>` or an encoded split); checks the configuration against
    /// them: the normalisation's channel count, and a transform that suits them — decoded splits take only the
    /// size-keeping ops (crop with padding, flip, rotation), encoded images only the any-size ops
    /// (RandomResizedCrop, Resize, CenterCrop, flip), ending at a fixed size.
    pub fn new(images: impl Into<Images>, config: LoaderConfig) -> Result<Self> {
        let images = images.into();
        if config.batch_size == 0 {
            return Err(DataError::Invalid("batch size must be >= 1".into()));
        }
        let chw = match &images {
            Images::Decoded(split) => {
                if let Some(op) = config.augment.ops.iter().find(|op| !op.keeps_size()) {
                    return Err(DataError::Invalid(format!(
                        "{op:?} transforms images of any size (ImageNet's encoded splits); these images are decoded \
                         at a fixed size, so their pipeline keeps it (crop with padding, flip, rotation)"
                    )));
                }
                split.chw
            }
            Images::Encoded(_) => {
                let [h, w] = fixed_output(&config.augment.ops)?;
                [3, h, w]
            }
        };
        let c = chw[0];
        if config.normalize.mean.len() != c || config.normalize.std.len() != c {
            return Err(DataError::Invalid(format!(
                "normalisation has {} channels, images have {c}",
                config.normalize.mean.len()
            )));
        }
        Ok(Loader { images, config, chw })
    }

    /// Channels, height and width of the images of every batch.
    #[must_use]
    pub fn chw(&self) -> [usize; 3] {
        self.chw
    }

    /// Number of batches per epoch.
    #[must_use]
    pub fn batches_per_epoch(&self) -> usize {
        self.images.len().div_ceil(self.config.batch_size)
    }

    /// The sample indices of every batch of `epoch`, in order.
    #[must_use]
    pub fn plan(&self, epoch: u64) -> Vec<Vec<usize>> {
        let order = if self.config.shuffle {
            epoch_order(self.images.len(), self.config.seed, epoch)
        } else {
            (0..self.images.len()).collect()
        };
        order.chunks(self.config.batch_size).map(<[usize]>::to_vec).collect()
    }

    /// Builds the batch of the given samples for `epoch` (parallel over samples). Encoded images are read,
    /// decoded and transformed here; one that cannot be read or decoded fails the batch with an error naming
    /// it (never a silently blank image).
    pub fn assemble(&self, indices: &[usize], epoch: u64) -> Result<Batch> {
        self.assemble_pixels(indices, epoch)?.into_batch()
    }

    /// The pixels and labels of a batch, assembled straight into a new tensor: what the prefetch thread
    /// prepares. Allocating the tensor is the only libtorch call made there: any op on that thread — even a
    /// copy into a tensor — gives it an OpenMP team of its own, whose threads then compete with the training
    /// step's (on two cores, one run at width 1/8 trained 35–40% slower); `Tensor::empty` starts none. Writing
    /// the pixels in place saves a copy of the batch and the page faults of a second buffer (a 256-image
    /// ImageNet batch is 154 MB).
    fn assemble_pixels(&self, indices: &[usize], epoch: u64) -> Result<HostBatch> {
        let chw = self.chw;
        let per: usize = chw.iter().product();
        let [c, h, w] = chw.map(|d| d as i64);
        let images = Tensor::f_empty([indices.len() as i64, c, h, w], (tch::Kind::Float, tch::Device::Cpu))?;
        let len = indices.len() * per;
        // SAFETY: a new contiguous f32 tensor on the CPU of exactly `len` elements, which nothing else refers to
        // while the slice lives (it is moved into the batch only after the slice's last use).
        let pixels: &mut [f32] = if len == 0 {
            &mut []
        } else {
            unsafe { std::slice::from_raw_parts_mut(images.data_ptr().cast::<f32>(), len) }
        };
        let cfg = &self.config;
        let labels = self.images.labels();
        if let Some(&bad) = indices.iter().find(|&&i| i >= labels.len()) {
            return Err(DataError::Invalid(format!("sample {bad} of a split of {} images", labels.len())));
        }
        match &self.images {
            Images::Decoded(split) => pixels.par_chunks_mut(per).zip(indices.par_iter()).for_each(|(out, &i)| {
                let draws = crate::augment::draws(&cfg.augment, cfg.seed, epoch, i as u64);
                apply(split.image(i), chw, &draws, cfg.augment.interpolation, &cfg.normalize, out);
            }),
            Images::Encoded(split) => pixels
                .par_chunks_mut(per)
                .zip(indices.par_iter())
                .try_for_each(|(out, &i)| encoded_image(split, i, cfg, epoch, out))?,
        }
        let labels: Vec<i64> = indices.iter().map(|&i| i64::from(labels[i])).collect();
        Ok(HostBatch { images, labels, indices: indices.to_vec() })
    }

    /// The batches of `epoch` starting at batch `skip` (for resuming mid-epoch), prefetched on a thread.
    pub fn epoch(&self, epoch: u64, skip: usize) -> Batches {
        let plan: Vec<Vec<usize>> = self.plan(epoch).into_iter().skip(skip).collect();
        if self.config.prefetch == 0 {
            let loader = self.clone();
            return Batches::Inline(Box::new(plan.into_iter().map(move |idx| loader.assemble(&idx, epoch))));
        }
        let (tx, rx) = mpsc::sync_channel(self.config.prefetch);
        let loader = self.clone();
        std::thread::spawn(move || {
            for idx in plan {
                if tx.send(loader.assemble_pixels(&idx, epoch)).is_err() {
                    break; // consumer gone
                }
            }
        });
        Batches::Prefetched(rx)
    }
}

/// Reads, decodes and transforms encoded image `i` of `split` for `epoch` into `out` (C×H×W, normalised). The
/// draws depend on the image's size only, so they are made from the file's header and only the part of the
/// image they read is decoded ([`transform::decode_drawn`]).
fn encoded_image(split: &EncodedSplit, i: usize, cfg: &LoaderConfig, epoch: u64, out: &mut [f32]) -> Result<()> {
    let name = split.name(i);
    let named = |e: DataError| match e {
        e @ (DataError::Image { .. } | DataError::Io { .. }) => e,
        other => DataError::Image { path: name.clone(), detail: other.to_string() },
    };
    let ops = &cfg.augment.ops;
    let (window, drawn) =
        transform::decode_drawn(&split.bytes(i)?, &name, ops, cfg.seed, epoch, i as u64).map_err(named)?;
    transform::transform_window(&window, ops, &drawn, &cfg.normalize, out).map_err(named)
}

/// The size (h, w) that `ops` bring images of any size to; an error if they do not end at one size, or hold an
/// op for fixed-size images only.
fn fixed_output(ops: &[Op]) -> Result<[usize; 2]> {
    let mut size: Option<[usize; 2]> = None;
    for op in ops {
        op.validate()?;
        size = match *op {
            Op::RandomResizedCrop { size: s, .. } | Op::CenterCrop { size: s } => Some([s, s]),
            Op::Resize { size: s } => size.map(|hw| transform::resized_shape(hw, s)),
            Op::Flip => size,
            Op::Crop { .. } | Op::Rotate { .. } => {
                return Err(DataError::Invalid(format!(
                    "{op:?} is for decoded images of a fixed size; encoded images (ImageNet) take RandomResizedCrop, \
                     Resize, CenterCrop and flip"
                )))
            }
        };
    }
    size.ok_or_else(|| {
        DataError::Invalid(format!(
            "encoded images (ImageNet) vary in size, but the transform {ops:?} does not end at one: end it with \
             RandomResizedCrop or CenterCrop (the imagenet preset trains with RandomResizedCrop(224) → flip and \
             evaluates with Resize(256) → CenterCrop(224))"
        ))
    })
}

/// A batch's pixels (an N×C×H×W tensor, normalised) and its labels in host memory: what the prefetch thread
/// hands over.
#[derive(Debug)]
pub struct HostBatch {
    images: Tensor,
    labels: Vec<i64>,
    indices: Vec<usize>,
}

impl HostBatch {
    /// The batch as tensors, on the calling thread (the labels' tensor is made here).
    pub fn into_batch(self) -> Result<Batch> {
        Ok(Batch { images: self.images, labels: Tensor::f_from_slice(&self.labels)?, indices: self.indices })
    }
}

/// Iterator over an epoch's batches.
pub enum Batches {
    /// Assembled on demand.
    Inline(Box<dyn Iterator<Item = Result<Batch>> + Send>),
    /// Assembled ahead on a background thread (pixels only; they become tensors on the consumer's thread).
    Prefetched(mpsc::Receiver<Result<HostBatch>>),
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Batches::Inline(_) => "Batches::Inline",
            Batches::Prefetched(_) => "Batches::Prefetched",
        })
    }
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Batches::Inline(it) => it.next(),
            Batches::Prefetched(rx) => rx.recv().ok().map(|b| b.and_then(HostBatch::into_batch)),
        }
    }
}
