//! CIFAR's python version (torchvision's download) against fixtures written in its exact pickle format by
//! `fixtures/cifar_pickle.py` (protocol 2, Python 2 byte strings, numpy arrays through `_reconstruct`), with
//! the expected labels and per-image hashes that script computed with Python's own pickle, and the same
//! images in the binary version.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tfkd_datasets::{DataError, Dataset, Source};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("cifar_pickle_expected.json")).unwrap()).unwrap()
}

fn load(source: Source) -> Result<Dataset, DataError> {
    let cache = tempfile::tempdir().unwrap();
    source.load(cache.path())
}

/// sha256 of image `i` in y, x, channel order (the fixture's `sha256_hwc`).
fn hwc_hash(split: &tfkd_datasets::Split, i: usize) -> String {
    let chw = split.image(i);
    let mut hwc = Vec::with_capacity(chw.len());
    for p in 0..1024 {
        for c in 0..3 {
            hwc.push(chw[c * 1024 + p]);
        }
    }
    Sha256::digest(&hwc).iter().map(|b| format!("{b:02x}")).collect()
}

fn check(ds: &Dataset, want: &serde_json::Value, names_key: &str) {
    for (split, key) in [(&ds.train, "train"), (&ds.test, "test")] {
        let w = &want[key];
        assert_eq!(split.len() as u64, w["count"].as_u64().unwrap(), "{key} count");
        let labels: Vec<u16> = w["labels"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as u16).collect();
        assert_eq!(split.labels, labels, "{key} labels");
        if let Some(coarse) = w.get("coarse_labels") {
            let coarse: Vec<u16> = coarse.as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as u16).collect();
            assert_eq!(split.coarse_labels.as_ref(), Some(&coarse), "{key} coarse labels");
        }
        for (i, hash) in w["sha256_hwc"].as_array().unwrap().iter().enumerate() {
            assert_eq!(hwc_hash(split, i), hash.as_str().unwrap(), "{key} image {i}");
        }
    }
    let names: Vec<&str> = want[names_key].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(ds.classes, names);
}

#[test]
fn cifar10_python_version_from_folder_and_archive_equals_python_and_binary() {
    let want = expected();
    let binary = load(Source::Cifar10(fixtures().join("cifar-10-batches-bin"))).unwrap();
    for at in [fixtures().join("cifar-10-batches-py"), fixtures().join("cifar-10-python.tar.gz")] {
        let ds = load(Source::Cifar10(at.clone())).unwrap_or_else(|e| panic!("{}: {e}", at.display()));
        check(&ds, &want["cifar10"], "label_names");
        assert!(ds.layout.starts_with("CIFAR-10 python version"), "{}", ds.layout);
        assert_eq!((&ds.train, &ds.test), (&binary.train, &binary.test), "python and binary versions differ");
    }
    assert!(binary.layout.starts_with("CIFAR-10 binary version"), "{}", binary.layout);
}

#[test]
fn cifar100_python_version_keeps_fine_and_coarse_labels() {
    let want = expected();
    let binary = load(Source::Cifar100(fixtures().join("cifar-100-binary"))).unwrap();
    for at in [fixtures().join("cifar-100-python"), fixtures().join("cifar-100-python.tar.gz")] {
        let ds = load(Source::Cifar100(at.clone())).unwrap_or_else(|e| panic!("{}: {e}", at.display()));
        check(&ds, &want["cifar100"], "fine_label_names");
        assert_eq!((&ds.train, &ds.test), (&binary.train, &binary.test));
    }
}

#[test]
fn a_python_folder_found_by_its_official_name() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cifar-100-python");
    std::fs::create_dir(&copy).unwrap();
    for f in ["train", "test", "meta"] {
        std::fs::copy(fixtures().join("cifar-100-python").join(f), copy.join(f)).unwrap();
    }
    let ds = load(Source::Cifar100(dir.path().to_path_buf())).unwrap();
    assert_eq!(ds.train.len(), 4);
    assert!(ds.layout.contains("python version") && ds.layout.contains("folder"), "{}", ds.layout);
}

#[test]
fn damaged_pickles_are_named_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cifar-10-batches-py");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(fixtures().join("cifar-10-batches-py")).unwrap().flatten() {
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let batch = copy.join("data_batch_3");
    let bytes = std::fs::read(&batch).unwrap();

    std::fs::write(&batch, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(Source::Cifar10(copy.clone())).unwrap_err().to_string();
    assert!(err.contains("data_batch_3") && err.contains("does not unpickle"), "{err}");

    std::fs::write(&batch, b"not a pickle at all").unwrap();
    let err = load(Source::Cifar10(copy.clone())).unwrap_err().to_string();
    assert!(err.contains("data_batch_3"), "{err}");

    // A label out of range: CIFAR-10's batch 3 holds one image labelled 7 (BININT1 0x4b 0x07 in the list).
    let mut bad = bytes.clone();
    let at = bad.windows(9).position(|w| w.starts_with(b"labels")).expect("labels key") + 6;
    let k = bad[at..].windows(2).position(|w| w == [0x4b, 7]).expect("the label") + at;
    bad[k + 1] = 10;
    std::fs::write(&batch, &bad).unwrap();
    let err = load(Source::Cifar10(copy.clone())).unwrap_err().to_string();
    assert!(err.contains("label 10") && err.contains("out of range"), "{err}");

    std::fs::remove_file(&batch).unwrap();
    let err = load(Source::Cifar10(copy)).unwrap_err().to_string();
    assert!(err.contains("data_batch_3") && err.contains("cifar-10-python.tar.gz"), "{err}");
}
