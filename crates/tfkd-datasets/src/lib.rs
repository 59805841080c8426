//! Datasets of the study in their official formats, decoded once and cached, with the paper's
//! augmentations drawn from a counter-based RNG, and batch loaders for CPU and device.
//!
//! * Sources ([`Source`]): CIFAR-10/100 binary (folder or `.tar.gz`), the bundled `cifar10-jpeg`
//!   archive, Tiny-ImageNet-200, any ImageFolder tree, MNIST and Fashion-MNIST IDX (raw or gzipped).
//! * Decoding runs in parallel once; the decoded dataset is cached by the source's content hash.
//! * ImageNet ([`Source::ImageNet`], ILSVRC-2012 as folders or the official tars) is too large to decode up front:
//!   [`Source::load_encoded`] indexes it (cached by content hash) into [`EncodedSplit`]s of references to encoded
//!   images, which the [`Loader`] reads, decodes and transforms per batch.
//! * Splits ([`Split`]): train, test, and seeded stratified held-out subsets (validation, small profiles).
//! * Augmentation ([`Augment`]): crop/flip/rotation as torchvision+PIL do them, with draws for sample i in
//!   epoch e depending on (seed, e, i) only — so results do not depend on thread counts or batch size.
//!   [`Loader`] assembles CPU batches with rayon and prefetches them; [`DeviceSplit`] keeps a split on the
//!   GPU as u8 and augments there with the same draws.
//! * ImageNet-style images of any size: [`decode::decode_rgb`] decodes as PIL does (libjpeg-turbo),
//!   [`transform`] applies torchvision's RandomResizedCrop / Resize / CenterCrop / flip with Pillow's
//!   resampling ([`resample`], bit for bit) and the same per-sample draws.
//! * [`fetch`] downloads official archives and verifies their published checksums.
//!
//! Depends on tch for tensors only; knows nothing of models, losses or specs.

pub mod augment;
pub mod cache;
mod dataset;
pub mod decode;
pub mod device;
mod digest;
pub mod encoded;
mod error;
pub mod fetch;
pub mod loader;
pub mod progress;
pub mod resample;
pub mod rgb;
pub mod rng;
mod source;
mod sources;
mod split;
pub mod transform;

pub use augment::{Augment, Interpolation, Normalize, Op};
pub use dataset::Dataset;
pub use device::DeviceSplit;
pub use digest::hex;
pub use encoded::{image_kind, Colour, EncodedDataset, EncodedSplit, ImageFormat, ImageKind, Store};
pub use error::{DataError, Result};
pub use loader::{Batch, Images, Loader, LoaderConfig};
pub use rgb::RgbImage;
pub use source::{default_location, sha256_file, Source, CIFAR10_JPEG_SHA256};
/// CIFAR's batch parser and its two layouts, for callers that parse one batch file (the fuzz targets).
pub use sources::cifar::{parse_batch as parse_cifar_batch, Layout as CifarLayout, Variant as CifarVariant};
pub use split::Split;
pub use tfkd_names::SourceName;
