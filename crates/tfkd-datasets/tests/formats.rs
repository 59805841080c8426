//! Each official format, written as a small fixture with known pixels and labels, loads back exactly.

mod common;

use std::path::Path;

use common::*;
use tfkd_datasets::{DataError, Source};

fn load(source: Source) -> tfkd_datasets::Dataset {
    let cache = tempfile::tempdir().unwrap();
    source.load(cache.path()).unwrap_or_else(|e| panic!("{e}"))
}

/// CIFAR-10: batches of 2 records each with labels (i % 10).
fn write_cifar10(dir: &Path) {
    let mut i = 0;
    for name in CIFAR10_BIN_FILES {
        let mut bytes = Vec::new();
        for _ in 0..2 {
            bytes.extend(cifar_record(&[(i % 10) as u8], i));
            i += 1;
        }
        write(&dir.join("cifar-10-batches-bin").join(name), &bytes);
    }
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    write(&dir.join("cifar-10-batches-bin/batches.meta.txt"), names.as_bytes());
}

fn check_cifar10(ds: &tfkd_datasets::Dataset) {
    assert_eq!((ds.train.len(), ds.test.len()), (10, 2));
    assert_eq!(ds.train.chw, [3, 32, 32]);
    for i in 0..10 {
        assert_eq!(ds.train.image(i), planar(i, [3, 32, 32]).as_slice(), "train image {i}");
        assert_eq!(ds.train.labels[i], (i % 10) as u16);
    }
    assert_eq!(ds.test.image(1), planar(11, [3, 32, 32]).as_slice());
    assert_eq!(ds.test.labels, vec![0, 1]);
    assert_eq!(ds.classes[9], "truck");
}

#[test]
fn cifar10_binary_from_folder_and_tar_gz() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    check_cifar10(&load(Source::Cifar10(dir.path().to_path_buf())));
    check_cifar10(&load(Source::Cifar10(dir.path().join("cifar-10-batches-bin"))));
    let archive = dir.path().join("cifar-10-binary.tar.gz");
    tar_gz(&dir.path().join("cifar-10-batches-bin"), "cifar-10-batches-bin", &archive);
    check_cifar10(&load(Source::Cifar10(archive)));
}

#[test]
fn cifar100_binary_keeps_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cifar-100-binary");
    let mut train = Vec::new();
    for i in 0..5 {
        train.extend(cifar_record(&[(i % 20) as u8, (i * 17 % 100) as u8], i));
    }
    write(&root.join("train.bin"), &train);
    write(&root.join("test.bin"), &cifar_record(&[19, 99], 5));
    let archive = dir.path().join("c100.tar.gz");
    tar_gz(&root, "cifar-100-binary", &archive);
    for source in [Source::Cifar100(dir.path().to_path_buf()), Source::Cifar100(archive)] {
        let ds = load(source);
        assert_eq!(ds.train.labels, vec![0, 17, 34, 51, 68]);
        assert_eq!(ds.train.coarse_labels.as_deref(), Some(&[0, 1, 2, 3, 4][..]));
        assert_eq!(ds.test.labels, vec![99]);
        assert_eq!(ds.test.coarse_labels.as_deref(), Some(&[19][..]));
        assert_eq!(ds.test.image(0), planar(5, [3, 32, 32]).as_slice());
        assert_eq!(ds.classes.len(), 100);
    }
}

/// An ImageFolder tree of PNGs: classes "b" and "a" (labels follow sorted names: a = 0, b = 1).
fn write_image_folder(root: &Path, chw: [usize; 3]) {
    let mut i = 0;
    for split in ["train", "test"] {
        for class in ["b", "a"] {
            for k in 0..2 {
                write(&root.join(split).join(class).join(format!("{k}.png")), &png(&planar(i, chw), chw));
                i += 1;
            }
        }
    }
}

#[test]
fn image_folder_and_jpeg_tar_gz_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write_image_folder(&root, [3, 32, 32]);
    let check = |ds: tfkd_datasets::Dataset| {
        assert_eq!(ds.classes, vec!["a", "b"]);
        assert_eq!(ds.train.labels, vec![0, 0, 1, 1]);
        // Sorted class "a" holds images 2 and 3 of the writing order.
        assert_eq!(ds.train.image(0), planar(2, [3, 32, 32]).as_slice());
        assert_eq!(ds.test.image(3), planar(5, [3, 32, 32]).as_slice());
    };
    check(load(Source::ImageFolder { root: root.clone(), size: [32, 32], channels: 3 }));
    let archive = dir.path().join("tree.tar.gz");
    tar_gz(&root, ".", &archive);
    check(load(Source::ImageFolder { root: archive, size: [32, 32], channels: 3 }));
    // Resizing to the spec's size and converting to grey.
    let small = load(Source::ImageFolder { root, size: [16, 16], channels: 1 });
    assert_eq!(small.train.chw, [1, 16, 16]);
    assert_eq!(small.train.images.len(), 4 * 256);
}

#[test]
fn tiny_imagenet_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny-imagenet-200");
    let chw = [3, 64, 64];
    write(&root.join("wnids.txt"), b"n02\nn01\n");
    for (i, wnid) in ["n01", "n01", "n02"].iter().enumerate() {
        write(
            &root.join("train").join(wnid).join("images").join(format!("{wnid}_{i}.JPEG")),
            &png(&planar(i, chw), chw),
        );
    }
    // A greyscale image is expanded to RGB, as PIL's convert('RGB') does.
    let grey = planar(7, [1, 64, 64]);
    write(&root.join("val/images/val_0.JPEG"), &png(&grey, [1, 64, 64]));
    write(&root.join("val/images/val_1.JPEG"), &png(&planar(8, chw), chw));
    write(&root.join("val/val_annotations.txt"), b"val_0.JPEG\tn02\t0\t0\t63\t63\nval_1.JPEG\tn01\t1\t1\t60\t60\n");
    let ds = load(Source::TinyImageNet(dir.path().to_path_buf()));
    assert_eq!(ds.classes, vec!["n01", "n02"]);
    assert_eq!(ds.train.labels, vec![0, 0, 1]);
    assert_eq!(ds.train.image(2), planar(2, chw).as_slice());
    assert_eq!(ds.test.labels, vec![0, 1], "val/images sorted by class, then file");
    assert_eq!(ds.test.image(0), planar(8, chw).as_slice());
    let rgb_of_grey: Vec<u8> = grey.iter().chain(&grey).chain(&grey).copied().collect();
    assert_eq!(ds.test.image(1), rgb_of_grey.as_slice());
}

fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn write_idx(dir: &Path, gzipped: bool) {
    let images: Vec<u8> = (0..3).flat_map(|i| planar(i, [1, 28, 28])).collect();
    let files = [
        ("train-images-idx3-ubyte", idx(0x803, &[3, 28, 28], &images)),
        ("train-labels-idx1-ubyte", idx(0x801, &[3], &[4, 0, 9])),
        ("t10k-images-idx3-ubyte", idx(0x803, &[1, 28, 28], &planar(3, [1, 28, 28]))),
        ("t10k-labels-idx1-ubyte", idx(0x801, &[1], &[7])),
    ];
    for (name, bytes) in files {
        if gzipped {
            write(&dir.join(format!("{name}.gz")), &gz(&bytes));
        } else {
            write(&dir.join(name), &bytes);
        }
    }
}

#[test]
fn idx_gzipped_and_raw() {
    for gzipped in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        write_idx(dir.path(), gzipped);
        for source in [Source::FashionMnist(dir.path().to_path_buf()), Source::Mnist(dir.path().to_path_buf())] {
            let ds = load(source);
            assert_eq!(ds.train.chw, [1, 28, 28]);
            assert_eq!(ds.train.labels, vec![4, 0, 9]);
            assert_eq!(ds.train.image(2), planar(2, [1, 28, 28]).as_slice());
            assert_eq!(ds.test.labels, vec![7]);
            assert_eq!(ds.test.image(0), planar(3, [1, 28, 28]).as_slice());
        }
    }
}

#[test]
fn decode_cache_is_used_and_keyed_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let source = Source::Cifar10(dir.path().to_path_buf());
    let first = source.load(cache.path()).unwrap();
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("decoded")).unwrap().collect();
    assert_eq!(cached.len(), 1);
    // The second load reads the cache file: equal data.
    let cache_file = cached[0].as_ref().unwrap().path();
    let again = source.load(cache.path()).unwrap();
    assert_eq!(first, again);
    // A damaged cache file is noticed and rebuilt from the source.
    std::fs::write(&cache_file, b"garbage").unwrap();
    assert_eq!(source.load(cache.path()).unwrap(), first);
    assert!(tfkd_datasets::cache::unusable(cache.path()).is_empty(), "the cache was rewritten");
    // Changing the source changes the key.
    std::fs::remove_file(&cache_file).unwrap();
    let mut bytes = std::fs::read(dir.path().join("cifar-10-batches-bin/test_batch.bin")).unwrap();
    bytes[1] ^= 0xff;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.path().join("cifar-10-batches-bin/test_batch.bin"), &bytes).unwrap();
    let changed = source.load(cache.path()).unwrap();
    assert_ne!(changed.content_hash, first.content_hash);
    assert_ne!(changed.test.image(0), first.test.image(0));
}

#[test]
fn error_missing_dataset_says_where_and_how() {
    let dir = tempfile::tempdir().unwrap();
    for (source, needle) in [
        (Source::Cifar10(dir.path().to_path_buf()), "tfkd data fetch cifar10"),
        (Source::Cifar100(dir.path().to_path_buf()), "tfkd data fetch cifar100"),
        (Source::TinyImageNet(dir.path().to_path_buf()), "tfkd data fetch tiny-imagenet"),
        (Source::FashionMnist(dir.path().to_path_buf()), "dataset-fashion-mnist"),
        (Source::Cifar10Jpeg(dir.path().join("nope.tar.gz")), "TFKD_CIFAR10_JPEG"),
    ] {
        let err = source.load(dir.path()).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(needle) && msg.contains(&dir.path().display().to_string()), "{msg}");
    }
}

#[test]
fn error_truncated_cifar_names_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let file = dir.path().join("cifar-10-batches-bin/data_batch_3.bin");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
    let msg = Source::Cifar10(dir.path().to_path_buf()).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("data_batch_3.bin") && msg.contains("byte offset 3073") && msg.contains("truncated"), "{msg}");
}

/// A `.tar.gz` cut short names the archive, where reading stopped, the unpacked offset *and* the file's own size
/// (an offset in the unpacked stream can exceed it, which alone reads as nonsense), and how to get a good copy.
#[test]
fn error_truncated_tar_gz_says_truncated_with_the_file_size_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let cifar = dir.path().join("cifar-10-binary.tar.gz");
    tar_gz(&dir.path().join("cifar-10-batches-bin"), "cifar-10-batches-bin", &cifar);
    let root = dir.path().join("tree");
    write_image_folder(&root, [3, 32, 32]);
    let tree = dir.path().join("tree.tar.gz");
    tar_gz(&root, ".", &tree);
    for (archive, source, fix) in [
        (&cifar, Source::Cifar10(cifar.clone()), "tfkd data fetch cifar10"),
        (
            &tree,
            Source::ImageFolder { root: tree.clone(), size: [32, 32], channels: 3 },
            "copy the imagefolder archive",
        ),
    ] {
        let bytes = std::fs::read(archive).unwrap();
        let size = bytes.len() * 2 / 3;
        std::fs::write(archive, &bytes[..size]).unwrap();
        let err = source.load(dir.path()).unwrap_err();
        let DataError::ArchiveBroken { unpacked, size: reported, .. } = &err else { panic!("{err:?}") };
        assert_eq!(*reported, size as u64);
        assert!(*unpacked > 0, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("truncated or damaged")
                && msg.contains(&format!("the file has {size} bytes"))
                && msg.contains(&format!("byte {unpacked} of its unpacked contents"))
                && msg.contains(fix)
                && msg.contains(&archive.display().to_string()),
            "{msg}"
        );
    }
}

#[test]
fn error_label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let file = dir.path().join("cifar-10-batches-bin/test_batch.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[3073] = 12;
    std::fs::write(&file, &bytes).unwrap();
    let msg = Source::Cifar10(dir.path().to_path_buf()).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("label 12 out of range for 10 classes") && msg.contains("byte offset 3073"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path(), false);
    write(&dir.path().join("t10k-labels-idx1-ubyte"), &idx(0x801, &[1], &[10]));
    let msg = Source::Mnist(dir.path().to_path_buf()).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("label 10 out of range"), "{msg}");
}

#[test]
fn error_wrong_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write_image_folder(&root, [3, 32, 32]);
    std::fs::create_dir_all(root.join("train/empty")).unwrap();
    let msg = Source::ImageFolder { root: root.clone(), size: [32, 32], channels: 3 }
        .load(dir.path())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("empty class folder train/empty"), "{msg}");
    // An archive without the train/test layout.
    let other = dir.path().join("flat");
    write(&other.join("x.png"), &png(&planar(0, [3, 32, 32]), [3, 32, 32]));
    write(&other.join("y/z.png"), &png(&planar(0, [3, 32, 32]), [3, 32, 32]));
    let archive = dir.path().join("flat.tar.gz");
    tar_gz(&other, ".", &archive);
    let msg =
        Source::ImageFolder { root: archive, size: [32, 32], channels: 3 }.load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("wrong layout") && msg.contains("expected train/<class>/<image>"), "{msg}");
    // A CIFAR archive missing files.
    let partial = dir.path().join("partial");
    write(&partial.join("test_batch.bin"), &cifar_record(&[0], 0));
    let archive = dir.path().join("partial.tar.gz");
    tar_gz(&partial, "cifar-10-batches-bin", &archive);
    let msg = Source::Cifar10(archive).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("expected an archive with data_batch_1.bin") && msg.contains("only test_batch.bin"), "{msg}");
    // IDX with a wrong magic number.
    let idx_dir = dir.path().join("idx");
    write_idx(&idx_dir, false);
    write(&idx_dir.join("train-labels-idx1-ubyte"), &idx(0x803, &[3], &[1, 2, 3]));
    let msg = Source::Mnist(idx_dir).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("train-labels-idx1-ubyte") && msg.contains("magic 0x00000803, expected 0x00000801"), "{msg}");
}

#[test]
fn error_mismatched_image_size_and_corrupt_image() {
    let dir = tempfile::tempdir().unwrap();
    // Tiny-ImageNet images must be 64×64 (no resizing, as the official pipeline).
    let tiny = dir.path().join("tiny-imagenet-200");
    write(&tiny.join("wnids.txt"), b"n01\n");
    write(&tiny.join("train/n01/images/n01_0.JPEG"), &png(&planar(0, [3, 64, 64]), [3, 64, 64]));
    write(&tiny.join("train/n01/images/odd.JPEG"), &png(&planar(0, [3, 20, 32]), [3, 20, 32]));
    write(&tiny.join("val/images/val_0.JPEG"), &png(&planar(1, [3, 64, 64]), [3, 64, 64]));
    write(&tiny.join("val/val_annotations.txt"), b"val_0.JPEG\tn01\t0\t0\t63\t63\n");
    let msg = Source::TinyImageNet(dir.path().to_path_buf()).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("odd.JPEG") && msg.contains("image is 20×32 (h×w), expected 64×64"), "{msg}");
    let root = dir.path().join("tree");
    write_image_folder(&root, [3, 32, 32]);
    write(&root.join("train/a/odd.png"), b"\x89PNG not really");
    let msg = Source::ImageFolder { root, size: [32, 32], channels: 3 }.load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("odd.png") && msg.contains("cannot decode image"), "{msg}");
}

/// Only the bundled archive is accepted as `cifar10-jpeg`: another tar.gz, a Git LFS pointer and a folder are
/// refused with what they are and how to fix it, before anything is decoded or cached.
#[test]
fn cifar10_jpeg_must_be_the_bundled_archive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write_image_folder(&root, [3, 32, 32]);
    let other = dir.path().join("cifar10-jpeg.tar.gz");
    tar_gz(&root, ".", &other);
    let msg = Source::Cifar10Jpeg(other.clone()).load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("not a usable cifar10-jpeg archive") && msg.contains(tfkd_datasets::CIFAR10_JPEG_SHA256),
        "{msg}"
    );
    // A copy outside a clone is the user's to replace; a clone's own copy is restored by git.
    assert!(msg.contains("replace") && !msg.contains("git checkout"), "{msg}");
    let clone = dir.path().join("clone");
    std::fs::create_dir_all(clone.join(".git")).unwrap();
    std::fs::create_dir_all(clone.join("data")).unwrap();
    std::fs::copy(&other, clone.join("data/cifar10-jpeg.tar.gz")).unwrap();
    let msg = Source::Cifar10Jpeg(clone.join("data/cifar10-jpeg.tar.gz")).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("git checkout -- data/cifar10-jpeg.tar.gz"), "{msg}");
    let pointer = dir.path().join("pointer.tar.gz");
    write(&pointer, b"version https://git-lfs.github.com/spec/v1\noid sha256:45b041e8\nsize 19433539\n");
    let msg = Source::Cifar10Jpeg(pointer).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("Git LFS pointer") && msg.contains("git lfs pull"), "{msg}");
    let msg = Source::Cifar10Jpeg(root).load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("is a folder"), "{msg}");
    assert!(!dir.path().join("decoded").exists(), "nothing was decoded or cached");
}

/// The decode cache is checked on every load: zeroed bytes (same size), a truncated file and a cache of an
/// older format are each rebuilt from the source, so the data equals a fresh decode; `unusable` lists the
/// damaged ones for `tfkd clean --damaged`, with the real offset of a truncation.
#[test]
fn a_damaged_decode_cache_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write_image_folder(&root, [3, 32, 32]);
    let source = Source::ImageFolder { root, size: [32, 32], channels: 3 };
    let cache = dir.path().join("cache");
    let fresh = source.load(&cache).unwrap();
    let file = std::fs::read_dir(cache.join("decoded")).unwrap().map(|e| e.unwrap().path()).next().unwrap();
    let good = std::fs::read(&file).unwrap();
    let mut zeroed = good.clone();
    let n = zeroed.len();
    zeroed[n / 2..n / 2 + 16].fill(0);
    let truncated = good[..n - 100].to_vec();
    let old = [b"TFKD-DATASET 1\n".as_slice(), &good[good.iter().position(|&b| b == b'\n').unwrap() + 1..]].concat();
    // A class renamed in the metadata (same length, sizes untouched): the checksum covers the metadata too.
    let renamed = {
        let text = String::from_utf8_lossy(&good[..200]).into_owned();
        let at = text.find("\"classes\":[\"").expect("classes in the metadata") + 12;
        let mut bytes = good.clone();
        bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        bytes
    };
    for (what, bytes) in [("zeroed", zeroed), ("truncated", truncated), ("old format", old), ("renamed class", renamed)]
    {
        std::fs::write(&file, &bytes).unwrap();
        let listed = tfkd_datasets::cache::unusable(&cache);
        assert_eq!(listed.len(), 1, "{what}: {listed:?}");
        if what == "truncated" {
            assert!(listed[0].1.contains(&format!("at byte offset {}", n - 100)), "{what}: {listed:?}");
        }
        let again = source.load(&cache).unwrap();
        assert_eq!(again.train.images, fresh.train.images, "{what}");
        assert_eq!(again.test.labels, fresh.test.labels, "{what}");
        assert_eq!(std::fs::read(&file).unwrap(), good, "{what}: the cache was rewritten");
        assert!(tfkd_datasets::cache::unusable(&cache).is_empty(), "{what}");
    }
}

/// ImageFolder's conversions on a committed pattern: resized with the `image` crate's triangle filter, bit for
/// bit what that crate computed (fixtures/image_crate_resize, a crate pinned to image 0.25.10), to sizes that
/// shrink, enlarge and do both; made grey as Pillow's `convert('L')` (fixtures/pillow_luma.py).
#[test]
fn image_folder_resizes_as_the_image_crate_and_greys_as_pillow() {
    use tfkd_datasets::decode::{decode_all, Encoded, Target};
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let item = [Encoded {
        name: "image_crate_resize.png".into(),
        bytes: std::fs::read(fixtures.join("image_crate_resize.png")).unwrap(),
        label: 0,
    }];
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(fixtures.join(name)).unwrap()).unwrap()
    };
    let bytes = |v: &serde_json::Value| -> Vec<u8> { serde_json::from_value(v.clone()).unwrap() };
    for case in json("image_crate_resize.json").as_array().unwrap() {
        let size: [usize; 2] = serde_json::from_value(case["size"].clone()).unwrap();
        let planar = decode_all(&item, Target { channels: 3, size, resize: true }, "fixture").unwrap();
        let rgb = bytes(&case["rgb"]);
        let plane = size[0] * size[1];
        let want: Vec<u8> = (0..3).flat_map(|c| (0..plane).map(move |p| (c, p))).map(|(c, p)| rgb[p * 3 + c]).collect();
        assert_eq!(planar, want, "resized to {size:?}");
    }
    let pillow = json("pillow_luma.json");
    let size: [usize; 2] = serde_json::from_value(pillow["size"].clone()).unwrap();
    let grey = decode_all(&item, Target { channels: 1, size, resize: false }, "fixture").unwrap();
    assert_eq!(grey, bytes(&pillow["luma"]));
}
