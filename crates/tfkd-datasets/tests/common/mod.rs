//! Fixture writers shared by the dataset tests: small files in each exact official format.

#![allow(dead_code)]

use std::{io::Write, path::Path};

/// Pixel value of image `i`, channel `c`, position `p`: distinct enough to catch any reordering.
pub fn pixel(i: usize, c: usize, p: usize) -> u8 {
    ((i * 31 + c * 7 + p * 3) % 251) as u8
}

/// A planar C×H×W image with [`pixel`] values.
pub fn planar(i: usize, chw: [usize; 3]) -> Vec<u8> {
    let plane = chw[1] * chw[2];
    (0..chw[0] * plane).map(|k| pixel(i, k / plane, k % plane)).collect()
}

/// One CIFAR record: label byte(s) then 3072 planar pixels.
pub fn cifar_record(labels: &[u8], i: usize) -> Vec<u8> {
    let mut r = labels.to_vec();
    r.extend(planar(i, [3, 32, 32]));
    r
}

/// PNG bytes of a planar image (lossless, so decoded pixels are exactly known).
pub fn png(planar_px: &[u8], chw: [usize; 3]) -> Vec<u8> {
    let [c, h, w] = chw;
    let plane = h * w;
    let mut out = Vec::new();
    let (interleaved, color) = if c == 1 {
        (planar_px.to_vec(), png::ColorType::Grayscale)
    } else {
        (
            (0..plane).flat_map(|p| (0..3).map(move |ch| (p, ch))).map(|(p, ch)| planar_px[ch * plane + p]).collect(),
            png::ColorType::Rgb,
        )
    };
    let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
    enc.set_color(color);
    enc.write_header().unwrap().write_image_data(&interleaved).unwrap();
    out
}

/// Writes `bytes` to `path`, creating folders.
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path).unwrap().write_all(bytes).unwrap();
}

/// Packs the folder `src` into `dst` as a `.tar.gz` whose entries start with `prefix`.
pub fn tar_gz(src: &Path, prefix: &str, dst: &Path) {
    // Entries in sorted order with fixed times and owners, so the archive's bytes do not depend on the folder's
    // listing order or when the test ran (a test that cuts the archive short at a fixed fraction relies on it).
    fn add<W: std::io::Write>(t: &mut tar::Builder<W>, dir: &Path, name: &Path) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let inner = name.join(path.file_name().unwrap());
            if path.is_dir() {
                t.append_dir(&inner, &path).unwrap();
                add(t, &path, &inner);
            } else {
                t.append_path_with_name(&path, &inner).unwrap();
            }
        }
    }
    let f = std::fs::File::create(dst).unwrap();
    let mut t = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()));
    t.mode(tar::HeaderMode::Deterministic);
    t.append_dir(prefix, src).unwrap();
    add(&mut t, src, Path::new(prefix));
    t.into_inner().unwrap().finish().unwrap();
}

/// gzip of `bytes`.
pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The files of CIFAR-10's binary version, training batches first.
pub const CIFAR10_BIN_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
