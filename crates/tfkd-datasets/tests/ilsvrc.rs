//! ILSVRC-2012 in every layout users keep it: the committed tiny tree (`tests/fixtures/ilsvrc/`, written by
//! `tests/fixtures/ilsvrc.py`: flat `val/` + Kaggle's `LOC_val_solution.csv`) and the layouts built from it
//! here (val sorted into class folders, Kaggle's `ILSVRC/Data/CLS-LOC/` nesting, the official tars with nested
//! per-class tars, and mixes) give the same classes, labels, order and bytes; the encoded loader's evaluation
//! batches match torchvision's ImageFolder + Resize(256) + CenterCrop(224) on the same files
//! (`tests/fixtures/ilsvrc_torchvision.json`, written by `ilsvrc_torchvision.py`); bad copies fail with errors
//! naming the file.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use tfkd_datasets::{Augment, EncodedDataset, EncodedSplit, Loader, LoaderConfig, Normalize, Source, Split, Store};

const WNIDS: [&str; 3] = ["n02123045", "n03063599", "n04266014"];

/// Train images per class and val images in (label, file name) order, as the fixture script writes them.
const TRAIN: [[&str; 4]; 3] = [
    ["n02123045_1001", "n02123045_1002", "n02123045_1017", "n02123045_1203"],
    ["n03063599_2001", "n03063599_2040", "n03063599_2118", "n03063599_2206"],
    ["n04266014_3001", "n04266014_3012", "n04266014_3105", "n04266014_3190"],
];
const VAL: [[u32; 2]; 3] = [[3, 6], [1, 5], [2, 4]];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ilsvrc")
}

fn load(root: &Path) -> EncodedDataset {
    let cache = tempfile::tempdir().unwrap();
    Source::ImageNet(root.to_path_buf()).load_encoded(cache.path()).unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(root: &Path) -> String {
    let cache = tempfile::tempdir().unwrap();
    match Source::ImageNet(root.to_path_buf()).load_encoded(cache.path()) {
        Ok(_) => panic!("{} loaded", root.display()),
        Err(e) => e.to_string(),
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let to = dst.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &to);
        } else {
            std::fs::copy(&path, &to).unwrap();
        }
    }
}

/// (image id, wnid) per line of the fixture's `LOC_val_solution.csv`, read naively.
fn solution() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixture().join("LOC_val_solution.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let (id, rest) = l.split_once(',').unwrap();
            (id.to_string(), rest.split(' ').next().unwrap().to_string())
        })
        .collect()
}

/// `root/train` as the fixture's, `root/val/<wnid>/` sorted from the CSV (no CSV in `root`).
fn sorted_val_tree(root: &Path) {
    copy_dir(&fixture().join("train"), &root.join("train"));
    for (id, wnid) in solution() {
        std::fs::create_dir_all(root.join("val").join(&wnid)).unwrap();
        let name = format!("{id}.JPEG");
        std::fs::copy(fixture().join("val").join(&name), root.join("val").join(&wnid).join(&name)).unwrap();
    }
}

/// A tar of `(name, bytes)` members, in the order given.
fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// The files of `dir`, sorted by name in reverse (so the reader cannot rely on archive order).
fn files_reversed(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.reverse();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// The official archives in `root`: `ILSVRC2012_img_train.tar` of per-class tars and the flat
/// `ILSVRC2012_img_val.tar`, with the CSV and the synset mapping beside them.
fn archives(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let classes: Vec<(String, Vec<u8>)> = WNIDS
        .iter()
        .rev()
        .map(|w| (format!("{w}.tar"), tar_of(&files_reversed(&fixture().join("train").join(w)))))
        .collect();
    std::fs::write(root.join("ILSVRC2012_img_train.tar"), tar_of(&classes)).unwrap();
    std::fs::write(root.join("ILSVRC2012_img_val.tar"), tar_of(&files_reversed(&fixture().join("val")))).unwrap();
    for f in ["LOC_val_solution.csv", "LOC_synset_mapping.txt"] {
        std::fs::copy(fixture().join(f), root.join(f)).unwrap();
    }
}

/// The dataset as the fixture script made it: classes, counts, order, labels, and every image's bytes equal
/// to the file's.
fn check(ds: &EncodedDataset) {
    assert_eq!(ds.name, "imagenet");
    assert_eq!(ds.classes, WNIDS);
    assert_eq!((ds.train.len(), ds.test.len()), (12, 6), "{}", ds.layout);
    assert_eq!(ds.train.histogram(3), [4, 4, 4]);
    assert_eq!(ds.test.histogram(3), [2, 2, 2]);
    for (i, (label, name)) in TRAIN.iter().enumerate().flat_map(|(l, c)| c.iter().map(move |n| (l, n))).enumerate() {
        assert_eq!((ds.train.file_name(i), ds.train.labels[i]), (format!("{name}.JPEG").as_str(), label as u16));
        let file = fixture().join("train").join(WNIDS[label]).join(format!("{name}.JPEG"));
        assert_eq!(ds.train.bytes(i).unwrap(), std::fs::read(file).unwrap(), "train image {i} ({})", ds.layout);
    }
    for (i, (label, n)) in VAL.iter().enumerate().flat_map(|(l, c)| c.iter().map(move |n| (l, n))).enumerate() {
        let name = format!("ILSVRC2012_val_{n:08}.JPEG");
        assert_eq!((ds.test.file_name(i), ds.test.labels[i]), (name.as_str(), label as u16));
        assert_eq!(ds.test.bytes(i).unwrap(), std::fs::read(fixture().join("val").join(&name)).unwrap());
    }
}

#[test]
fn committed_tree_flat_val_with_kaggle_csv() {
    let ds = load(&fixture());
    check(&ds);
    assert_eq!(ds.descriptions, ["tabby, tabby cat", "coffee mug", "space shuttle"]);
    assert!(ds.layout.contains("labelled by") && ds.layout.contains("LOC_val_solution.csv"), "{}", ds.layout);
    assert!(matches!(ds.train.store(), Store::Folder(p) if p.ends_with("train")));
    assert!(ds.test.name(0).ends_with("val/ILSVRC2012_val_00000003.JPEG"));
}

#[test]
fn every_layout_reads_the_same_images() {
    let dir = tempfile::tempdir().unwrap();
    let sorted = dir.path().join("sorted");
    sorted_val_tree(&sorted);
    let sorted_ds = load(&sorted);
    check(&sorted_ds);
    assert!(sorted_ds.layout.contains("sorted by class"), "{}", sorted_ds.layout);
    assert_eq!(sorted_ds.descriptions, ["", "", ""], "no synset mapping in this tree");

    // Kaggle's download: ILSVRC/Data/CLS-LOC/{train,val} with the CSV in the root.
    let kaggle = dir.path().join("kaggle");
    copy_dir(&fixture().join("train"), &kaggle.join("ILSVRC/Data/CLS-LOC/train"));
    copy_dir(&fixture().join("val"), &kaggle.join("ILSVRC/Data/CLS-LOC/val"));
    std::fs::copy(fixture().join("LOC_val_solution.csv"), kaggle.join("LOC_val_solution.csv")).unwrap();
    check(&load(&kaggle));
    // ... or the CSV beside val/.
    std::fs::rename(kaggle.join("LOC_val_solution.csv"), kaggle.join("ILSVRC/Data/CLS-LOC/LOC_val_solution.csv"))
        .unwrap();
    check(&load(&kaggle));

    let tars = dir.path().join("tars");
    archives(&tars);
    let ds = load(&tars);
    check(&ds);
    assert!(matches!(ds.train.store(), Store::Archive(p) if p.ends_with("ILSVRC2012_img_train.tar")));
    let name = ds.train.name(0).to_string_lossy().into_owned();
    assert!(name.ends_with("ILSVRC2012_img_train.tar!n02123045.tar!n02123045_1001.JPEG"), "{name}");
    assert_eq!(ds.descriptions[1], "coffee mug");

    // Mixed: the train tar with a sorted val folder; a train folder with the val tar.
    std::fs::rename(sorted.join("val"), tars.join("val")).unwrap();
    check(&load(&tars));
    copy_dir(&fixture().join("train"), &tars.join("train"));
    std::fs::remove_dir_all(tars.join("val")).unwrap();
    let ds = load(&tars);
    check(&ds);
    assert!(matches!(ds.test.store(), Store::Archive(_)) && matches!(ds.train.store(), Store::Folder(_)));
}

#[test]
fn index_is_cached_by_content_and_rebuilt_when_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let (root, cache) = (dir.path().join("imagenet"), dir.path().join("cache"));
    archives(&root);
    let source = Source::ImageNet(root.clone());
    let first = source.load_encoded(&cache).unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(cache.join("index")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one index file: {files:?}");
    assert_eq!(source.load_encoded(&cache).unwrap(), first, "read back from the cache");
    assert_eq!(source.content_hash().unwrap(), first.content_hash);

    // A damaged index is noticed and rebuilt, never used.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&files[0], &bytes).unwrap();
    assert_eq!(source.load_encoded(&cache).unwrap(), first);
    assert_ne!(std::fs::read(&files[0]).unwrap(), bytes, "rewritten");

    // Other content, other hash (the archive's size and modification time).
    let val = root.join("ILSVRC2012_img_val.tar");
    let mut tar = std::fs::read(&val).unwrap();
    tar.extend([0u8; 1024]);
    std::fs::write(&val, tar).unwrap();
    assert_ne!(source.content_hash().unwrap(), first.content_hash);
    assert_eq!(source.load_encoded(&cache).unwrap().test.len(), 6);
}

#[test]
fn decoded_loading_and_other_sources_point_at_the_right_call() {
    let cache = tempfile::tempdir().unwrap();
    let e = Source::ImageNet(fixture()).load(cache.path()).unwrap_err().to_string();
    assert!(e.contains("load_encoded"), "{e}");
    let e = Source::Mnist(fixture()).load_encoded(cache.path()).unwrap_err().to_string();
    assert!(e.contains("Source::load"), "{e}");
}

#[test]
fn missing_dataset_says_where_and_that_it_needs_a_licence() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_err(&dir.path().join("imagenet"));
    for part in ["image-net.org", "licence", "data/imagenet", "TFKD_IMAGENET", "ILSVRC2012_img_train.tar"] {
        assert!(e.contains(part), "{part} in {e}");
    }
    // Train without val.
    copy_dir(&fixture().join("train"), &dir.path().join("t/train"));
    let e = load_err(&dir.path().join("t"));
    assert!(e.contains("val/ or ILSVRC2012_img_val.tar"), "{e}");
}

#[test]
fn layout_errors_name_the_culprit() {
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture(), dir.path());
        dir
    };
    // A flat val without its labels.
    let d = fresh();
    std::fs::remove_file(d.path().join("LOC_val_solution.csv")).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("LOC_val_solution.csv") && e.contains("Kaggle"), "{e}");

    // A val image of a class train does not have.
    let d = fresh();
    let csv = d.path().join("LOC_val_solution.csv");
    let text = std::fs::read_to_string(&csv)
        .unwrap()
        .replace("ILSVRC2012_val_00000005,n03063599", "ILSVRC2012_val_00000005,n09999999");
    std::fs::write(&csv, text).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("ILSVRC2012_val_00000005.JPEG") && e.contains("n09999999"), "{e}");

    // A val image the CSV does not list, and a line whose image is missing.
    let d = fresh();
    std::fs::copy(d.path().join("val/ILSVRC2012_val_00000001.JPEG"), d.path().join("val/ILSVRC2012_val_00000099.JPEG"))
        .unwrap();
    let e = load_err(d.path());
    assert!(e.contains("val/ILSVRC2012_val_00000099.JPEG") && e.contains("does not list"), "{e}");
    let d = fresh();
    std::fs::remove_file(d.path().join("val/ILSVRC2012_val_00000004.JPEG")).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("1 listed images missing, such as ILSVRC2012_val_00000004"), "{e}");

    // An empty class folder; a file that is no image; an image outside a class folder.
    let d = fresh();
    std::fs::create_dir(d.path().join("train/n01440764")).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("train/n01440764") && e.contains("empty class folder"), "{e}");
    let d = fresh();
    std::fs::write(d.path().join("train/n03063599/n03063599_9999.JPEG"), b"<html>Not found</html>").unwrap();
    let e = load_err(d.path());
    assert!(e.contains("train/n03063599/n03063599_9999.JPEG") && e.contains("not an image"), "{e}");
    let d = fresh();
    std::fs::write(d.path().join("train/n03063599/empty.JPEG"), b"").unwrap();
    assert!(load_err(d.path()).contains("empty.JPEG: is empty"));
    let d = fresh();
    std::fs::copy(d.path().join("val/ILSVRC2012_val_00000001.JPEG"), d.path().join("train/stray.JPEG")).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("train/stray.JPEG") && e.contains("outside any class folder"), "{e}");

    // Files that are not images by name are not read; hidden files neither.
    let d = fresh();
    std::fs::write(d.path().join("train/n03063599/notes.txt"), b"hello").unwrap();
    std::fs::write(d.path().join("train/n03063599/._n03063599_2001.JPEG"), b"resource fork").unwrap();
    check(&load(d.path()));
}

#[test]
fn archive_errors_name_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a");
    archives(&root);
    // A train tar that is not made of per-class tars.
    let flat = tar_of(&files_reversed(&fixture().join("train/n02123045")));
    std::fs::write(root.join("ILSVRC2012_img_train.tar"), flat).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("ILSVRC2012_img_train.tar") && e.contains("per-class tars") && e.contains("n02123045_1203.JPEG"),
        "{e}"
    );
    // A member that is no image, inside a per-class tar.
    let mut members = files_reversed(&fixture().join("train/n02123045"));
    members.push(("n02123045_7.JPEG".into(), b"GIF89a".to_vec()));
    std::fs::write(root.join("ILSVRC2012_img_train.tar"), tar_of(&[("n02123045.tar".into(), tar_of(&members))]))
        .unwrap();
    let e = load_err(&root);
    assert!(e.contains("ILSVRC2012_img_train.tar!n02123045.tar!n02123045_7.JPEG") && e.contains("not an image"), "{e}");
    // A truncated archive.
    archives(&root);
    let tar = std::fs::read(root.join("ILSVRC2012_img_val.tar")).unwrap();
    std::fs::write(root.join("ILSVRC2012_img_val.tar"), &tar[..tar.len() / 2 + 100]).unwrap();
    let e = load_err(&root);
    assert!(e.contains("ILSVRC2012_img_val.tar") && e.contains("truncated or damaged"), "{e}");
}

#[test]
fn stratified_picks_what_a_decoded_split_picks() {
    let ds = load(&fixture());
    let n = ds.train.len();
    // A decoded split with the same labels, each image's pixel its index.
    let decoded =
        Split { images: (0..n as u8).collect(), labels: ds.train.labels.clone(), chw: [1, 1, 1], coarse_labels: None };
    for (k, seed) in [(3, 1), (6, 7), (5, 230)] {
        let (sample, rest) = ds.train.stratified(k, seed, "val").unwrap();
        let (dsample, drest) = decoded.stratified(k, seed, "val").unwrap();
        let names = |s: &EncodedSplit| (0..s.len()).map(|i| s.file_name(i).to_string()).collect::<Vec<_>>();
        let by_index =
            |s: &Split| s.images.iter().map(|&i| ds.train.file_name(i as usize).to_string()).collect::<Vec<_>>();
        assert_eq!(names(&sample), by_index(&dsample));
        assert_eq!(names(&rest), by_index(&drest));
        assert_eq!(sample.labels, dsample.labels);
        assert_eq!(sample.bytes(0).unwrap(), ds.train.bytes(dsample.images[0] as usize).unwrap());
    }
    assert!(ds.train.stratified(13, 1, "val").is_err());
}

fn imagenet_config(augment: Augment, batch_size: usize, prefetch: usize) -> LoaderConfig {
    LoaderConfig { batch_size, shuffle: false, augment, normalize: Normalize::imagenet_official(), seed: 9, prefetch }
}

#[derive(serde::Deserialize)]
struct Reference {
    classes: Vec<String>,
    probes: Vec<[usize; 3]>,
    train: Vec<Sample>,
    test: Vec<Sample>,
}

#[derive(serde::Deserialize)]
struct Sample {
    file: String,
    label: u16,
    mean: [f64; 3],
    probes: Vec<f64>,
}

/// The evaluation batches of `split` against torchvision's; returns the largest difference in pixel levels.
fn against_torchvision(split: &EncodedSplit, reference: &Reference, samples: &[Sample]) -> f64 {
    let loader = Loader::new(Arc::new(split.clone()), imagenet_config(Augment::imagenet_evaluation(), 4, 2)).unwrap();
    assert_eq!(loader.chw(), [3, 224, 224]);
    let std = Normalize::imagenet_official().std;
    let mut worst = 0f64;
    let mut seen = 0;
    for batch in loader.epoch(0, 0) {
        let batch = batch.unwrap();
        assert_eq!(batch.images.size()[1..], [3, 224, 224]);
        let labels: Vec<i64> = Vec::try_from(&batch.labels).unwrap();
        for (k, &i) in batch.indices.iter().enumerate() {
            let want = &samples[i];
            assert_eq!((split.file_name(i), labels[k]), (want.file.as_str(), i64::from(want.label)));
            let img = batch.images.get(k as i64);
            for (p, &[c, y, x]) in reference.probes.iter().enumerate() {
                let got = img.double_value(&[c as i64, y as i64, x as i64]);
                worst = worst.max((got - want.probes[p]).abs() * f64::from(std[c]) * 255.0);
            }
            for (c, (mean, sd)) in want.mean.iter().zip(&std).enumerate() {
                let got = img.get(c as i64).mean(tch::Kind::Double).double_value(&[]);
                worst = worst.max((got - mean).abs() * f64::from(*sd) * 255.0);
            }
            seen += 1;
        }
    }
    assert_eq!(seen, samples.len());
    worst
}

#[test]
fn evaluation_batches_match_torchvision() {
    let text = std::fs::read_to_string(fixture().with_file_name("ilsvrc_torchvision.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    assert_eq!(reference.classes, WNIDS);
    let dir = tempfile::tempdir().unwrap();
    archives(dir.path());
    // The committed tree, and the archives read by byte offset.
    for ds in [load(&fixture()), load(dir.path())] {
        let worst = against_torchvision(&ds.train, &reference, &reference.train).max(against_torchvision(
            &ds.test,
            &reference,
            &reference.test,
        ));
        eprintln!("{}: largest difference from torchvision {worst:.4} pixel levels", ds.layout);
        // Measured: 0.0000 (the decoder is libjpeg-turbo with Pillow's settings, resampling is Pillow's exactly).
        assert!(worst <= 0.01, "{worst} pixel levels off torchvision ({})", ds.layout);
    }
}

#[test]
fn training_batches_are_seeded_per_sample() {
    let ds = load(&fixture());
    let split = Arc::new(ds.train);
    let epoch = |batch_size, prefetch, e| -> Vec<tch::Tensor> {
        let cfg = LoaderConfig { shuffle: true, ..imagenet_config(Augment::imagenet_official(), batch_size, prefetch) };
        let loader = Loader::new(split.clone(), cfg).unwrap();
        let mut out: Vec<(usize, tch::Tensor)> = Vec::new();
        for b in loader.epoch(e, 0) {
            let b = b.unwrap();
            assert_eq!(b.images.size()[1..], [3, 224, 224]);
            out.extend(b.indices.iter().enumerate().map(|(k, &i)| (i, b.images.get(k as i64))));
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, t)| t).collect()
    };
    let a = epoch(5, 0, 0);
    assert_eq!(a.len(), 12);
    let b = epoch(3, 2, 0);
    assert!(a.iter().zip(&b).all(|(x, y)| x.equal(y)), "same draws whatever the batch size and prefetch");
    let c = epoch(5, 0, 1);
    assert!(a.iter().zip(&c).any(|(x, y)| !x.equal(y)), "another epoch, other crops");
}

#[test]
fn loader_refuses_a_transform_that_does_not_fit_the_images() {
    let ds = load(&fixture());
    let e = Loader::new(Arc::new(ds.test.clone()), imagenet_config(Augment::none(), 4, 0)).unwrap_err().to_string();
    assert!(e.contains("vary in size") && e.contains("CenterCrop"), "{e}");
    let e = Loader::new(Arc::new(ds.test.clone()), imagenet_config(Augment::cifar_official(), 4, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fixed size"), "{e}");
    let decoded = Split { images: vec![0; 12], labels: vec![0], chw: [3, 2, 2], coarse_labels: None };
    let e =
        Loader::new(Arc::new(decoded), imagenet_config(Augment::imagenet_evaluation(), 1, 0)).unwrap_err().to_string();
    assert!(e.contains("any size"), "{e}");
}

#[test]
fn an_image_spoiled_after_indexing_fails_its_batch_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    let ds = load(dir.path());
    let loader = Loader::new(Arc::new(ds.test.clone()), imagenet_config(Augment::imagenet_evaluation(), 6, 0)).unwrap();
    assert!(loader.assemble(&[0, 1, 2, 3, 4, 5], 0).is_ok());
    // Same size, garbage content: decoding fails.
    let spoiled = dir.path().join("val/ILSVRC2012_val_00000005.JPEG");
    let len = std::fs::metadata(&spoiled).unwrap().len() as usize;
    std::fs::write(&spoiled, vec![0u8; len]).unwrap();
    let e = loader.assemble(&[3], 0).unwrap_err().to_string();
    assert!(e.contains("val/ILSVRC2012_val_00000005.JPEG"), "{e}");
    // Gone.
    std::fs::remove_file(dir.path().join("val/ILSVRC2012_val_00000002.JPEG")).unwrap();
    let e = loader.assemble(&[4], 0).unwrap_err().to_string();
    assert!(e.contains("val/ILSVRC2012_val_00000002.JPEG"), "{e}");
    // Truncated to another size.
    std::fs::write(dir.path().join("val/ILSVRC2012_val_00000003.JPEG"), b"\xff\xd8\xff").unwrap();
    let e = loader.assemble(&[0], 0).unwrap_err().to_string();
    assert!(e.contains("val/ILSVRC2012_val_00000003.JPEG") && e.contains("changed"), "{e}");
}

/// A cut image is found while the dataset is indexed, naming itself — in a folder and in an archive — and not
/// decoded with grey in place of its missing rows (Pillow refuses it too); bytes after a whole image's end are
/// accepted once it decodes.
#[test]
fn a_cut_image_fails_indexing_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    let image = dir.path().join("train/n02123045/n02123045_1001.JPEG");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..bytes.len() * 7 / 10]).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("train/n02123045/n02123045_1001.JPEG") && e.contains("truncated"), "{e}");
    let e = tfkd_datasets::decode::decode_rgb(&bytes[..bytes.len() * 7 / 10], &image).unwrap_err().to_string();
    assert!(e.contains(tfkd_datasets::decode::TRUNCATED_JPEG), "{e}");

    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0; 100]);
    std::fs::write(&image, &padded).unwrap();
    let ds = load(dir.path());
    assert_eq!(ds.train.labels.len(), 12, "the padded image is kept");

    let root = dir.path().join("archives");
    archives(&root);
    let mut members = files_reversed(&fixture().join("train/n02123045"));
    let cut = members.iter_mut().find(|m| m.0 == "n02123045_1017.JPEG").unwrap();
    cut.1.truncate(cut.1.len() / 2);
    std::fs::write(root.join("ILSVRC2012_img_train.tar"), tar_of(&[("n02123045.tar".into(), tar_of(&members))]))
        .unwrap();
    let e = load_err(&root);
    assert!(e.contains("ILSVRC2012_img_train.tar!n02123045.tar!n02123045_1017.JPEG") && e.contains("truncated"), "{e}");
}

/// A link inside a class folder back to a folder above it is refused naming it, where following it would list
/// the class's images again and again.
#[test]
fn a_link_loop_in_a_class_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    std::os::unix::fs::symlink("..", dir.path().join("train/n02123045/again")).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("train/n02123045/again") && e.contains("loops back"), "{e}");
}

/// A copy of the source (names, sizes and times kept) shares the original's cached index; its `read from`
/// is the copy, also once the original is gone.
#[test]
fn a_copy_sharing_the_index_says_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let original = dir.path().join("original");
    copy_dir(&fixture(), &original);
    let first = Source::ImageNet(original.clone()).load_encoded(&cache).unwrap();
    assert!(first.layout.contains(&original.display().to_string()), "{}", first.layout);
    let copy = dir.path().join("copy");
    let status = std::process::Command::new("cp").arg("-a").arg(&original).arg(&copy).status().unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&original).unwrap();
    let second = Source::ImageNet(copy.clone()).load_encoded(&cache).unwrap();
    assert_eq!(second.content_hash, first.content_hash, "the copy is the same source");
    assert!(second.layout.contains(&copy.display().to_string()), "{}", second.layout);
    assert!(!second.layout.contains(&original.display().to_string()), "{}", second.layout);
    check(&second);
}
