//! What each dataset source is — the one place that knows it, so no crate branches on a source's name:
//! classes, official split sizes, image shape, whether its images are held decoded or streamed from their
//! files per batch, and whether `tfkd data fetch` can download it.

use crate::SourceName;

/// How a source's images reach the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Decoded once at a fixed size into the decode cache and held in memory (CIFAR, Tiny-ImageNet, MNIST).
    Decoded,
    /// Read and decoded from their files per batch, any size, never held decoded (ImageNet); its transforms
    /// are the any-size ones (RandomResizedCrop, Resize, CenterCrop).
    Streamed,
}

/// A source's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Classes, where the source fixes them (an ImageFolder's depend on its folders).
    pub classes: Option<usize>,
    /// Official (train, test) sizes, where fixed.
    pub official_sizes: Option<(usize, usize)>,
    /// Channels, height and width of its decoded images (`None`: any size).
    pub image: Option<[usize; 3]>,
    /// Decoded and held, or streamed.
    pub storage: Storage,
    /// Whether `tfkd data fetch` downloads its official files.
    pub fetchable: bool,
}

impl Descriptor {
    /// Whether its images are streamed from their files per batch (see [`Storage::Streamed`]).
    #[must_use]
    pub fn streamed(&self) -> bool {
        self.storage == Storage::Streamed
    }
}

impl SourceName {
    /// This source's facts.
    #[must_use]
    pub fn descriptor(self) -> Descriptor {
        let decoded = |classes, sizes, image, fetchable| Descriptor {
            classes: Some(classes),
            official_sizes: Some(sizes),
            image: Some(image),
            storage: Storage::Decoded,
            fetchable,
        };
        match self {
            SourceName::Cifar10 => decoded(10, (50_000, 10_000), [3, 32, 32], true),
            SourceName::Cifar10Jpeg => decoded(10, (50_000, 10_000), [3, 32, 32], false),
            SourceName::Cifar100 => decoded(100, (50_000, 10_000), [3, 32, 32], true),
            SourceName::TinyImagenet => decoded(200, (100_000, 10_000), [3, 64, 64], true),
            SourceName::FashionMnist => decoded(10, (60_000, 10_000), [1, 28, 28], true),
            SourceName::Mnist => decoded(10, (60_000, 10_000), [1, 28, 28], false),
            SourceName::Imagefolder => Descriptor {
                classes: None,
                official_sizes: None,
                image: None,
                storage: Storage::Decoded,
                fetchable: false,
            },
            SourceName::Imagenet => Descriptor {
                classes: Some(1000),
                official_sizes: Some((1_281_167, 50_000)),
                image: None,
                storage: Storage::Streamed,
                fetchable: false,
            },
        }
    }

    /// The number of classes, where the source fixes it (an ImageFolder's depends on its folders).
    #[must_use]
    pub fn classes(self) -> Option<usize> {
        self.descriptor().classes
    }

    /// The sources `tfkd data fetch` downloads.
    pub fn fetchable() -> impl Iterator<Item = SourceName> {
        SourceName::ALL.iter().copied().filter(|s| s.descriptor().fetchable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only ImageNet is streamed, and every source that fixes its classes fixes its official sizes too.
    #[test]
    fn descriptors_are_consistent() {
        let streamed: Vec<SourceName> = SourceName::ALL.iter().copied().filter(|s| s.descriptor().streamed()).collect();
        assert_eq!(streamed, [SourceName::Imagenet]);
        for &s in SourceName::ALL {
            let d = s.descriptor();
            assert_eq!(d.classes.is_some(), d.official_sizes.is_some(), "{s}");
            assert_eq!(d.image.is_none(), d.streamed() || s == SourceName::Imagefolder, "{s}");
        }
        let fetchable: Vec<&str> = SourceName::fetchable().map(SourceName::name).collect();
        assert_eq!(fetchable, ["cifar10", "cifar100", "tiny-imagenet", "fashion-mnist"]);
    }
}
