//! Why a named setting is unusable: an architecture's depth or width factor, an augmentation op's parameters,
//! a normalisation preset for the data's channel count.

use crate::NormalizePreset;

/// A setting that names a valid thing with values it cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// A CIFAR ResNet depth that is not 6n+2.
    #[error("CIFAR ResNet depth {0} must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110)")]
    ResNetDepth(i64),
    /// A WRN depth that is not 6n+4.
    #[error("WRN depth {0} must be 6n+4 with n >= 1 (10, 16, 22, 28, 40)")]
    WrnDepth(i64),
    /// A WRN widen factor below 1.
    #[error("WRN widen factor {0} must be >= 1")]
    WrnWiden(i64),
    /// An augmentation op's parameter out of range; `op` is the op as written in Rust's debug form.
    #[error("{op}: {problem}")]
    Op {
        /// The op.
        op: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A normalisation preset for another channel count.
    #[error("normalisation '{preset}' is for {expected}-channel images; the data has {channels} (use `half`)")]
    Channels {
        /// The preset.
        preset: NormalizePreset,
        /// Its channels.
        expected: usize,
        /// The data's.
        channels: usize,
    },
}
