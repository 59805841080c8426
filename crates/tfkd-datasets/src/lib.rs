//! Datasets of the study in their official formats, decoded once and cached, with the paper's
//! augmentations drawn from a counter-based RNG, and batch loaders for CPU and device.
//!
//! * Sources ([`Source`]): CIFAR-10/100 binary (folder or `.tar.gz`), the bundled `cifar10-jpeg`
//!   archive, Tiny-ImageNet-200, any ImageFolder tree, MNIST and Fashion-MNIST IDX (raw or gzipped).
//! * Decoding runs in parallel once; the decoded dataset is cached by the source's content hash.
//! * Splits ([`Split`]): train, test, and seeded stratified held-out subsets (validation, small profiles).
//! * Augmentation ([`Augment`]): crop/flip/rotation as torchvision+PIL do them, with draws for sample i in
//!   epoch e depending on (seed, e, i) only — so results do not depend on thread counts or batch size.
//!   [`Loader`] assembles CPU batches with rayon and prefetches them; [`DeviceSplit`] keeps a split on the
//!   GPU as u8 and augments there with the same draws.
//! * [`fetch`] downloads official archives and verifies their published checksums.
//!
//! Depends on tch for tensors only; knows nothing of models, losses or specs.

pub mod augment;
pub mod cache;
mod dataset;
pub mod decode;
pub mod device;
mod error;
pub mod fetch;
pub mod loader;
pub mod progress;
pub mod rng;
mod source;
mod sources;
mod split;

pub use augment::{Augment, Interpolation, Normalize, Op};
pub use dataset::Dataset;
pub use device::DeviceSplit;
pub use error::{DataError, Result};
pub use loader::{Batch, Loader, LoaderConfig};
pub use source::{default_location, hex, sha256_file, Source, CIFAR10_JPEG_SHA256};
pub use split::Split;
pub use tfkd_names::SourceName;
