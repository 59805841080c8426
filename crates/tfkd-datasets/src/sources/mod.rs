//! Readers for each on-disk format.

pub mod cifar;
pub mod idx;
pub mod tree;
