//! The fuzz targets: one per parser of untrusted input, each with its seeds and the property it must keep —
//! any input gives a value or a typed error naming the file, never a panic (the supervisor sees a dead
//! process), a hang or unbounded memory (the supervisor's bounds, `main.rs`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tfkd_datasets::{cache, decode, CifarLayout, CifarVariant, EncodedDataset, Source};

/// A parser of untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// PyTorch `.pth` files: the zip format and legacy pickles (teacher weights, torchvision's downloads).
    Pth,
    /// Run records (`results/*/*/runs/*.json`), read by reports.
    Record,
    /// YAML specs, with their `extends` chain and profiles.
    Spec,
    /// CIFAR-10/100 batches, binary and pickled (the first byte of an input picks variant and layout).
    Cifar,
    /// ILSVRC's label CSV (`LOC_val_solution.csv`), indexed with a folder of images.
    Ilsvrc,
    /// JPEG and PNG images, decoded as training decodes them.
    Image,
    /// tfkd's decode cache files (`.cache/decoded/*.bin`).
    DecodeCache,
    /// tfkd's ImageNet index cache (`.cache/index/*.idx`): a damaged one must be indexed again, equal.
    IndexCache,
}

impl Target {
    /// Every target, in the order `tfkd-fuzz all` runs them.
    pub const ALL: [Target; 8] = [
        Target::Pth,
        Target::Record,
        Target::Spec,
        Target::Cifar,
        Target::Ilsvrc,
        Target::Image,
        Target::DecodeCache,
        Target::IndexCache,
    ];

    /// Its name on the command line and in folders.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Target::Pth => "pth",
            Target::Record => "record",
            Target::Spec => "spec",
            Target::Cifar => "cifar",
            Target::Ilsvrc => "ilsvrc",
            Target::Image => "image",
            Target::DecodeCache => "decode-cache",
            Target::IndexCache => "index-cache",
        }
    }

    /// Whether its inputs are text (adds the text mutations).
    #[must_use]
    pub fn is_text(self) -> bool {
        matches!(self, Target::Record | Target::Spec | Target::Ilsvrc)
    }

    /// The committed inputs found to break it once (`fuzz/regressions/<name>/`), replayed as seeds and by the
    /// corpus test.
    #[must_use]
    pub fn regressions(self, repo: &Path) -> PathBuf {
        repo.join("fuzz/regressions").join(self.name())
    }
}

/// The folder of the repository's committed inputs, beside this crate.
#[must_use]
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files under `dir` (recursively) that `keep` keeps, sorted; none when `dir` does not exist.
fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files(&path, keep)?);
        } else if keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    paths.iter().map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display()))).collect()
}

const CIFAR_SEEDS: [(&str, u8); 4] = [
    ("cifar-10-batches-bin/data_batch_1.bin", 0),
    ("cifar-10-batches-py/data_batch_1", 1),
    ("cifar-100-binary/train.bin", 2),
    ("cifar-100-python/train", 3),
];

fn cifar_kind(selector: u8) -> (CifarVariant, CifarLayout) {
    match selector % 4 {
        0 => (CifarVariant::Cifar10, CifarLayout::Binary),
        1 => (CifarVariant::Cifar10, CifarLayout::Python),
        2 => (CifarVariant::Cifar100, CifarLayout::Binary),
        _ => (CifarVariant::Cifar100, CifarLayout::Python),
    }
}

/// A target made ready in its own scratch folder: fixtures copied, the reference dataset indexed.
pub struct Harness {
    target: Target,
    repo: PathBuf,
    scratch: PathBuf,
    /// For `index-cache`: the index file and the dataset a good index gives.
    index: Option<(PathBuf, EncodedDataset)>,
}

impl Harness {
    /// Prepares `target` in `scratch` (created; its contents are the harness's).
    pub fn new(target: Target, repo: &Path, scratch: &Path) -> anyhow::Result<Harness> {
        // A restarted child starts afresh: what an earlier one left (caches, a copied fixture) is gone.
        if scratch.exists() {
            std::fs::remove_dir_all(scratch).with_context(|| format!("clearing {}", scratch.display()))?;
        }
        std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let mut h = Harness { target, repo: repo.to_path_buf(), scratch: scratch.to_path_buf(), index: None };
        if matches!(target, Target::Ilsvrc | Target::IndexCache) {
            copy_dir(&h.ilsvrc_fixture(), &h.imagenet())?;
        }
        if target == Target::IndexCache {
            let cache = scratch.join("cache");
            let reference = Source::ImageNet(h.imagenet()).load_encoded(&cache)?;
            let index = files(&cache.join("index"), &|p: &Path| p.extension().is_some_and(|e| e == "idx"))?;
            let [path] = index.as_slice() else { anyhow::bail!("expected one index file, found {index:?}") };
            h.index = Some((path.clone(), reference));
        }
        Ok(h)
    }

    fn ilsvrc_fixture(&self) -> PathBuf {
        self.repo.join("crates/tfkd-datasets/tests/fixtures/ilsvrc")
    }

    fn imagenet(&self) -> PathBuf {
        self.scratch.join("imagenet")
    }

    /// The seeds: committed files of the repository (fixtures, specs, records), inputs made from them (a
    /// decode cache, an index) and the target's committed regressions.
    pub fn seeds(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let repo = &self.repo;
        let fixtures = repo.join("crates/tfkd-datasets/tests/fixtures");
        let mut seeds = match self.target {
            Target::Pth => read_all(&files(&repo.join("crates/tfkd-pth/tests/fixtures"), &|p: &Path| {
                p.to_string_lossy().ends_with(".pth")
            })?)?,
            Target::Record => {
                let runs = repo.join("results/rekd-tiny-imagenet/quick/runs");
                read_all(
                    &files(&runs, &|p: &Path| p.extension().is_some_and(|e| e == "json"))?
                        .into_iter()
                        .take(3)
                        .collect::<Vec<_>>(),
                )?
            }
            Target::Spec => {
                read_all(&files(&repo.join("experiments"), &|p: &Path| p.extension().is_some_and(|e| e == "yaml"))?)?
            }
            Target::Cifar => CIFAR_SEEDS
                .iter()
                .map(|(file, selector)| Ok([vec![*selector], std::fs::read(fixtures.join(file))?].concat()))
                .collect::<anyhow::Result<_>>()?,
            Target::Ilsvrc => vec![std::fs::read(self.ilsvrc_fixture().join("LOC_val_solution.csv"))?],
            Target::Image => {
                read_all(&files(&self.ilsvrc_fixture(), &|p: &Path| p.extension().is_some_and(|e| e == "JPEG"))?)?
            }
            Target::DecodeCache => {
                let cache = self.scratch.join("seed-cache");
                Source::Cifar10(fixtures.join("cifar-10-batches-bin")).load(&cache)?;
                read_all(&files(&cache.join("decoded"), &|_: &Path| true)?)?
            }
            Target::IndexCache => self.index.iter().map(|(p, _)| std::fs::read(p)).collect::<Result<_, _>>()?,
        };
        seeds.extend(read_all(&files(&self.target.regressions(repo), &|_: &Path| true)?)?);
        anyhow::ensure!(!seeds.is_empty(), "no seeds for {}", self.target.name());
        Ok(seeds)
    }

    /// Runs one input. `Ok(None)`: parsed; `Ok(Some(error))`: refused with an error that keeps the property;
    /// `Err(violation)`: the property is broken (an error that names no file, a damaged cache not rebuilt).
    /// A panic is not caught: the supervisor sees the process die.
    pub fn run(&mut self, input: &[u8]) -> Result<Option<String>, Violation> {
        let scratch = self.scratch.clone();
        match self.target {
            Target::Pth => {
                let file = scratch.join("input.pth");
                naming(&file, tfkd_pth::from_bytes(&file, input).err().map(|e| tfkd_io::chain(&e)))
            }
            Target::Record => {
                let runs = scratch.join("runs");
                let file = runs.join("input.json");
                std::fs::create_dir_all(&runs)?;
                std::fs::write(&file, input)?;
                naming(&file, tfkd_report::record::load_dir(&runs).err().map(|e| tfkd_io::chain(&e)))
            }
            Target::Spec => {
                // Read as the spec of a file in experiments/, so `extends: defaults.yaml` finds the real one.
                let file = self.repo.join("experiments/fuzz-input.yaml");
                let spec = String::from_utf8_lossy(input);
                let refused = tfkd_spec::load_str(&spec, &file, "smoke", &[]).err().map(|e| tfkd_io::chain(&e));
                match refused {
                    Some(e) if !e.lines().next().unwrap_or_default().contains(".yaml") => {
                        Err(Violation(format!("the error names no spec file: {e}")))
                    }
                    other => Ok(other),
                }
            }
            Target::Cifar => {
                let file = scratch.join("input-batch");
                let (variant, layout) = cifar_kind(input.first().copied().unwrap_or(0));
                let body = input.get(1..).unwrap_or_default();
                naming(
                    &file,
                    tfkd_datasets::parse_cifar_batch(variant, layout, &file, body).err().map(|e| tfkd_io::chain(&e)),
                )
            }
            Target::Ilsvrc => self.ilsvrc(input),
            Target::Image => Self::image(input, &scratch.join("input.JPEG")),
            Target::DecodeCache => {
                let file = scratch.join("decoded.bin");
                std::fs::write(&file, input)?;
                let refused = match cache::load(&file) {
                    Ok(cache::Cached::Damaged(e)) | Err(e) => Some(tfkd_io::chain(&e)),
                    Ok(_) => None,
                };
                naming(&file, refused)
            }
            Target::IndexCache => self.index_cache(input),
        }
    }

    /// An image decoded whole and, as the training loader decodes it, in the window a RandomResizedCrop draw
    /// reads: both refuse it naming the file, or the window holds the whole decode's pixels. Then as a dataset
    /// decodes it ([`Self::dataset_image`]).
    fn image(input: &[u8], file: &Path) -> Result<Option<String>, Violation> {
        let whole = decode::decode_rgb(input, file);
        Self::dataset_image(input, file, whole.as_ref().ok())?;
        let ops = tfkd_datasets::Augment::imagenet_official().ops;
        let window = tfkd_datasets::transform::decode_drawn(input, file, &ops, input.len() as u64, 0, 0);
        match (whole, window) {
            (Ok(img), Ok((win, _))) => {
                let (r, w) = (win.rect, img.width() as usize);
                let rows = (0..r.height).map(|y| &img.as_raw()[((r.top + y) * w + r.left) * 3..][..r.width * 3]);
                if rows.zip(win.pixels.chunks_exact(r.width * 3)).all(|(a, b)| a == b) {
                    Ok(None)
                } else {
                    Err(Violation(format!("the window {r:?} differs from the whole decode there")))
                }
            }
            (Err(e), Err(_)) => naming(file, Some(tfkd_io::chain(&e))),
            (Ok(_), Err(e)) => Err(Violation(format!("decoded whole, but its window failed: {}", tfkd_io::chain(&e)))),
            (Err(e), Ok(_)) => {
                Err(Violation(format!("its window decoded, but whole it failed: {}", tfkd_io::chain(&e))))
            }
        }
    }

    /// An image as an ImageFolder dataset decodes it (zune-jpeg or the PNG decoder, resized to 24×24, made
    /// grey): decoded or refused naming the file. A PNG that [`decode::decode_rgb`] decoded (`whole`) is decoded
    /// to the same pixels at its own size, the two paths sharing one PNG conversion.
    fn dataset_image(input: &[u8], file: &Path, whole: Option<&tfkd_datasets::RgbImage>) -> Result<(), Violation> {
        let item = [decode::Encoded { name: file.to_path_buf(), bytes: input.to_vec(), label: 0 }];
        let grey = decode::Target { channels: 1, size: [24, 24], resize: true };
        if let Err(e) = decode::decode_all(&item, grey, "fuzzed image") {
            naming(file, Some(tfkd_io::chain(&e)))?;
        }
        let Some(whole) = whole.filter(|_| input.starts_with(b"\x89PNG")) else { return Ok(()) };
        let own = decode::Target { channels: 3, size: whole.size(), resize: false };
        let planar = decode::decode_all(&item, own, "fuzzed image")
            .map_err(|e| Violation(format!("decoded by decode_rgb, but not as a dataset: {}", tfkd_io::chain(&e))))?;
        let plane = planar.len() / 3;
        let same =
            whole.as_raw().chunks_exact(3).enumerate().all(|(i, p)| (0..3).all(|c| planar[c * plane + i] == p[c]));
        if same {
            Ok(())
        } else {
            Err(Violation("a PNG decodes to other pixels as a dataset than through decode_rgb".into()))
        }
    }

    /// The label CSV beside the fixture's images: indexed, or refused naming a file of the dataset.
    fn ilsvrc(&self, input: &[u8]) -> Result<Option<String>, Violation> {
        let root = self.imagenet();
        std::fs::write(root.join("LOC_val_solution.csv"), input)?;
        let cache = self.scratch.join("cache");
        let _ = std::fs::remove_dir_all(&cache);
        match Source::ImageNet(root.clone()).load_encoded(&cache) {
            Ok(_) => Ok(None),
            Err(e) if tfkd_io::chain(&e).contains(&root.display().to_string()) => Ok(Some(tfkd_io::chain(&e))),
            Err(e) => Err(Violation(format!("the error names no file of {}: {}", root.display(), tfkd_io::chain(&e)))),
        }
    }

    /// Any bytes in the index file: the dataset comes back equal to the reference (a damaged index is
    /// noticed and the folder indexed again), never an error or another dataset.
    fn index_cache(&self, input: &[u8]) -> Result<Option<String>, Violation> {
        let (path, reference) =
            self.index.as_ref().ok_or_else(|| Violation("index-cache harness without its index".into()))?;
        std::fs::write(path, input)?;
        match Source::ImageNet(self.imagenet()).load_encoded(&self.scratch.join("cache")) {
            Ok(ds) if &ds == reference => Ok(None),
            Ok(_) => Err(Violation("a damaged index gave another dataset".into())),
            Err(e) => Err(Violation(format!("a damaged index was not rebuilt: {}", tfkd_io::chain(&e)))),
        }
    }
}

/// A broken property: what a harness saw instead of a clear refusal that names the file (or, for the index
/// cache, instead of the dataset indexed again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// The harness could not write its input: reported as a violation so the run stops on it, not as a pass.
impl From<std::io::Error> for Violation {
    fn from(e: std::io::Error) -> Self {
        Violation(format!("the harness could not write its input: {e}"))
    }
}

/// A refusal keeps the property when its error names the file.
fn naming(file: &Path, refused: Option<String>) -> Result<Option<String>, Violation> {
    match refused {
        Some(e) if !e.contains(&file.display().to_string()) => {
            Err(Violation(format!("the error does not name {}: {e}", file.display())))
        }
        other => Ok(other),
    }
}

fn copy_dir(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src).with_context(|| format!("listing {}", src.display()))? {
        let path = entry?.path();
        let to = dst.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &to)?;
        } else {
            std::fs::copy(&path, &to).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
