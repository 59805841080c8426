//! A decoded dataset: class names plus train and test splits.

use crate::split::Split;

/// A decoded dataset as read from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// The source's name in specs (`cifar10-jpeg`, `cifar100`, …).
    pub name: String,
    /// Class names; label i is `classes[i]`.
    pub classes: Vec<String>,
    /// The training split.
    pub train: Split,
    /// The test split (Tiny-ImageNet: the official `val` folder, as the official code uses it).
    pub test: Split,
    /// Hex digest identifying the source's content; keys the decode cache and is recorded with runs.
    pub content_hash: String,
    /// The layout it was read from, in words (e.g. "CIFAR-100 python version (pickled batches) (archive …)").
    pub layout: String,
}
