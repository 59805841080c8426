//! Batches for training and evaluation: shuffled by (seed, epoch), augmented per sample in parallel
//! (rayon) and prefetched on a background thread while the model trains.

use std::sync::{mpsc, Arc};

use rayon::prelude::*;
use tch::Tensor;

use crate::{
    augment::{apply, Augment, Normalize},
    error::{DataError, Result},
    rng::epoch_order,
    split::Split,
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
    /// Augmentation (use [`Augment::none`] for evaluation).
    pub augment: Augment,
    /// Normalisation.
    pub normalize: Normalize,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
    /// Batches prepared ahead of the consumer (0 = assemble on the calling thread).
    pub prefetch: usize,
}

/// Assembles the batches of a split.
#[derive(Debug, Clone)]
pub struct Loader {
    split: Arc<Split>,
    config: LoaderConfig,
}

impl Loader {
    /// A loader over `split`; checks the configuration against the images' channel count.
    pub fn new(split: Arc<Split>, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(DataError::Invalid("batch size must be >= 1".into()));
        }
        let c = split.chw[0];
        if config.normalize.mean.len() != c || config.normalize.std.len() != c {
            return Err(DataError::Invalid(format!(
                "normalisation has {} channels, images have {c}",
                config.normalize.mean.len()
            )));
        }
        Ok(Loader { split, config })
    }

    /// Number of batches per epoch.
    #[must_use]
    pub fn batches_per_epoch(&self) -> usize {
        self.split.len().div_ceil(self.config.batch_size)
    }

    /// The sample indices of every batch of `epoch`, in order.
    #[must_use]
    pub fn plan(&self, epoch: u64) -> Vec<Vec<usize>> {
        let order = if self.config.shuffle {
            epoch_order(self.split.len(), self.config.seed, epoch)
        } else {
            (0..self.split.len()).collect()
        };
        order.chunks(self.config.batch_size).map(<[usize]>::to_vec).collect()
    }

    /// Builds the batch of the given samples for `epoch` (parallel over samples).
    pub fn assemble(&self, indices: &[usize], epoch: u64) -> Result<Batch> {
        let chw = self.split.chw;
        let per: usize = chw.iter().product();
        let mut pixels = vec![0f32; indices.len() * per];
        let cfg = &self.config;
        pixels.par_chunks_mut(per).zip(indices.par_iter()).for_each(|(out, &i)| {
            let draws = crate::augment::draws(&cfg.augment, cfg.seed, epoch, i as u64);
            apply(self.split.image(i), chw, &draws, cfg.augment.interpolation, &cfg.normalize, out);
        });
        let [c, h, w] = chw.map(|d| d as i64);
        let images = Tensor::f_from_slice(&pixels)?.f_view([indices.len() as i64, c, h, w])?;
        let labels: Vec<i64> = indices.iter().map(|&i| i64::from(self.split.labels[i])).collect();
        Ok(Batch { images, labels: Tensor::f_from_slice(&labels)?, indices: indices.to_vec() })
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
                if tx.send(loader.assemble(&idx, epoch)).is_err() {
                    break; // consumer gone
                }
            }
        });
        Batches::Prefetched(rx)
    }
}

/// Iterator over an epoch's batches.
pub enum Batches {
    /// Assembled on demand.
    Inline(Box<dyn Iterator<Item = Result<Batch>> + Send>),
    /// Assembled ahead on a background thread.
    Prefetched(mpsc::Receiver<Result<Batch>>),
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
            Batches::Prefetched(rx) => rx.recv().ok(),
        }
    }
}
