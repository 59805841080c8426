//! The YAML schema: every section is a "patch" whose fields are optional, so one set of types
//! validates defaults files, specs, profiles and overrides alike. Unknown keys are rejected with
//! their line and column; [`crate::resolve`] then merges the layers and fills the resolved types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::claims::ClaimDecl;
use crate::layout::Layout;
pub use tfkd_names::method::{KlReduction, Method, RegVariant, Spread};

fn yes() -> bool {
    true
}
use tfkd_names::{Arch, AugmentPreset, AugmentStep, Interpolation, NormalizePreset, Numerics, Precision, SourceName};

/// One YAML file: shared defaults or an experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Another file (relative to this one) whose settings this one extends.
    pub extends: Option<String>,
    /// Target name, e.g. `rekd-tiny-imagenet`.
    pub name: Option<String>,
    /// One-line title for reports.
    pub title: Option<String>,
    /// What the experiment reproduces and why.
    pub description: Option<String>,
    /// Data settings.
    pub dataset: Option<DataPatch>,
    /// Optimisation settings.
    pub train: Option<TrainPatch>,
    /// Model settings shared by all runs.
    pub model: Option<ModelPatch>,
    /// Seeds; every run is repeated once per seed.
    pub seeds: Option<Vec<u64>>,
    /// The runs of the experiment.
    pub runs: Option<Vec<RunEntry>>,
    /// Named profiles (`smoke`, `quick`, `paper`, …) patching the settings above.
    pub profiles: Option<BTreeMap<String, ProfilePatch>>,
    /// The paper table this experiment mirrors: layout, rows, the paper's numbers.
    pub paper: Option<PaperTable>,
    /// Claims about the entries (`{ a: ENTRY, op: ">" | "<" | "≈", b: ENTRY, margin, expected, text }`), judged
    /// in the report by the same path as a paper table's claims.
    pub claims: Option<Vec<crate::claims::ClaimDecl>>,
    /// Settings of executors by name (`executor: { slurm: { gres: "gpu:1" } }`), carried without being read
    /// here: each executor checks and reads its own (tfkd-commands' `executors`), profiles patch them.
    pub executor: Option<ExecutorSection>,
}

/// Executor settings by executor name, opaque to the spec: a YAML value per name.
pub type ExecutorSection = BTreeMap<String, serde_yaml::Value>;

/// A paper table as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperTable {
    /// The paper's table number (`experiments/paper.yaml`): every paper number of the rows is filled from
    /// there, and the rows must be the table's rows in its order.
    pub table: Option<u32>,
    /// Layout (columns and claims); required once the `extends` chain is merged.
    pub layout: Option<Layout>,
    /// The paper's dataset, for headers (e.g. "Tiny-ImageNet"); with `table`, it picks the table's block.
    #[serde(default)]
    pub dataset: String,
    /// Where the paper's numbers were taken from (filled from `table`).
    #[serde(default)]
    pub source: String,
    /// The table's caption (filled from `table`).
    #[serde(default)]
    pub caption: String,
    /// Runs behind each paper cell (filled from `table`; `None`: not stated).
    #[serde(default)]
    pub runs: Option<u32>,
    /// Whether the paper states `runs` or tfkd infers it (filled from `table`).
    #[serde(default)]
    pub runs_basis: Option<String>,
    /// Rows as in the paper.
    #[serde(default)]
    pub rows: Vec<PaperRow>,
    /// The claims checked on every row; empty: the layout's claims ([`Layout::claims`]), filled by resolve.
    #[serde(default)]
    pub claims: Vec<ClaimDecl>,
    /// False when the paper's numbers for this table were not retrieved: the rows' `paper` values (e.g.
    /// inherited from a sibling table) are then not shown, and the paper column says so.
    #[serde(default = "yes")]
    pub numbers_retrieved: bool,
    /// Remarks shown under the table.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One row: a label and its cells by column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperRow {
    /// Row label, e.g. "ResNet18 ↔ MobileNetV2".
    pub label: String,
    /// Cells by column name.
    pub cells: BTreeMap<String, Cell>,
}

/// One cell: which of our runs fills it and what the paper printed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// Take the paper's number from this other table's row of the same label (Tab. 8's normal KD, shown
    /// in Tab. 7's target).
    pub from: Option<u32>,
    /// Our run (entry id) whose accuracy fills the cell.
    pub run: Option<String>,
    /// Fill the cell with the accuracy of the teacher weights this run used (De-KD's poor teacher).
    pub teacher_of: Option<String>,
    /// The paper's value exactly as printed ("71.05±0.16", "75.87"), or absent when not retrieved.
    pub paper: Option<String>,
    /// Extra text shown with the paper value (e.g. the KD teacher's name).
    pub paper_note: Option<String>,
}

/// A profile: patches applied over the spec's settings (and over each run's own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// What the profile is for.
    pub description: Option<String>,
    /// Data patch.
    pub dataset: Option<DataPatch>,
    /// Optimisation patch.
    pub train: Option<TrainPatch>,
    /// Model patch.
    pub model: Option<ModelPatch>,
    /// Seeds for this profile.
    pub seeds: Option<Vec<u64>>,
    /// Per-run patches by run id.
    pub runs: Option<BTreeMap<String, RunPatch>>,
    /// Run only these entries (and the teachers they need): how a CPU profile keeps the cheap rows.
    pub only: Option<Vec<String>>,
    /// Executor settings under this profile (e.g. a GPU per Slurm task and a longer time limit for `paper`).
    pub executor: Option<ExecutorSection>,
}

/// Data settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPatch {
    /// Source: cifar10, cifar100, cifar10-jpeg, tiny-imagenet, imagefolder, fashion-mnist, mnist, imagenet.
    pub source: Option<SourceName>,
    /// Location of the source (default: the source's default location).
    pub path: Option<String>,
    /// Images carved from train as a stratified validation split (0 = none).
    pub val_size: Option<usize>,
    /// Use a stratified subset of this many training images (after carving val).
    pub train_subset: Option<usize>,
    /// Use a stratified subset of this many test images.
    pub test_subset: Option<usize>,
    /// Augmentation preset: `cifar`, `tiny-imagenet`, `none`.
    pub augment: Option<AugmentPreset>,
    /// Steps of the augmentation preset to switch off: any of `crop`, `flip`, `rotate`.
    pub augment_off: Option<Vec<AugmentStep>>,
    /// Rotation interpolation: `nearest` (official) or `bilinear`.
    pub interpolation: Option<Interpolation>,
    /// Normalisation constants: `cifar-official`, `tiny-imagenet-official`, `half`.
    pub normalize: Option<NormalizePreset>,
    /// ImageFolder only: output size (h, w).
    pub image_size: Option<[usize; 2]>,
    /// Batches prepared ahead of training.
    pub prefetch: Option<usize>,
    /// When a profile substitutes a dataset with K classes for the paper's K′-class one, divide the official
    /// elementwise-mean KL by N·K′ instead of N·K, keeping the paper's per-example KD weight α·T²/K′
    /// (default true; false keeps the official formula on the substituted data).
    pub keep_paper_kl_weight: Option<bool>,
}

/// Optimisation settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainPatch {
    /// Epochs.
    pub epochs: Option<u32>,
    /// Batch size.
    pub batch_size: Option<usize>,
    /// Learning rate at batch 128; the official code scales it by batch/128.
    pub lr: Option<f64>,
    /// Scale the learning rate by batch/128 (official: true).
    pub lr_batch_scaling: Option<bool>,
    /// SGD momentum.
    pub momentum: Option<f64>,
    /// Weight decay.
    pub weight_decay: Option<f64>,
    /// Nesterov momentum (official: false).
    pub nesterov: Option<bool>,
    /// Epochs of per-iteration linear warm-up at the start (official: 1).
    pub warmup_epochs: Option<u32>,
    /// Learning-rate drops as fractions of the epochs (official: 0.3, 0.6, 0.8 → 60/120/160 of 200).
    pub milestones: Option<Vec<f64>>,
    /// Factor at each milestone (official: 0.2).
    pub gamma: Option<f64>,
    /// Threads for libtorch (0 = all cores); recorded with the run.
    pub threads: Option<usize>,
    /// Numeric precision: `fp32` (default) or `bf16` (CUDA only: mixed precision, bf16 autocast with fp32 weights, optimizer state and loss).
    pub precision: Option<Precision>,
    /// Fused training arrays: `auto` (arrays of up to 16 runs on CUDA, none on the CPU), `off`, or the most
    /// runs per array. Runs of one wave that share the model, batch size and epochs train as one fused
    /// model; each stays its own run (id, record, checkpoints). Not part of run ids.
    pub array: Option<ArrayMode>,
    /// CPU kernels: `native` (default; libtorch picks the widest instruction set) or `portable` (pinned to AVX2
    /// so any x86-64 CPU with AVX2 computes the same bits). Part of run ids when portable.
    pub numerics: Option<Numerics>,
}

/// How many runs may train as one fused array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArrayMode {
    /// Up to [`ArrayMode::AUTO_CUDA`] on CUDA, 1 on the CPU (where arrays do not pay).
    #[default]
    Auto,
    /// Every run alone.
    Off,
    /// At most this many runs per array.
    Max(usize),
}

impl ArrayMode {
    /// The array size `auto` uses on CUDA.
    pub const AUTO_CUDA: usize = 16;

    /// The most runs per array on a CUDA device or not.
    #[must_use]
    pub fn limit(self, cuda: bool) -> usize {
        match self {
            ArrayMode::Auto if cuda => Self::AUTO_CUDA,
            ArrayMode::Auto | ArrayMode::Off => 1,
            ArrayMode::Max(n) => n.max(1),
        }
    }
}

impl Serialize for ArrayMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ArrayMode::Auto => s.serialize_str("auto"),
            ArrayMode::Off => s.serialize_str("off"),
            ArrayMode::Max(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for ArrayMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Word(String),
            Count(u64),
        }
        match Repr::deserialize(d)? {
            Repr::Word(w) if w == "auto" => Ok(ArrayMode::Auto),
            Repr::Word(w) if w == "off" => Ok(ArrayMode::Off),
            Repr::Count(n) if n >= 1 => Ok(ArrayMode::Max(n as usize)),
            Repr::Word(w) => {
                Err(serde::de::Error::custom(format!("array: '{w}' is not auto, off or a number of runs")))
            }
            Repr::Count(_) => Err(serde::de::Error::custom("array: at least 1 run per array")),
        }
    }
}

/// Model settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPatch {
    /// Channel width multiplier (1 = the paper's model).
    pub width: Option<f64>,
    /// Reproduce the official GoogLeNet's BatchNorm eps accident.
    pub googlenet_bn_eps_quirk: Option<bool>,
}

/// One run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    /// Identifier within the experiment, e.g. `base-resnet18`, `rekd-resnet18-from-mobilenetv2`.
    pub id: String,
    /// Model name from the zoo.
    pub model: Arch,
    /// Training method and its hyper-parameters.
    pub method: Method,
    /// The teacher (KD, Re-KD, De-KD, Tf-KD_self): a run of this spec by its id, or weights trained elsewhere
    /// (`{ model: torchvision.densenet121, weights: densenet121-a639ec97.pth }`: the ImageNet teachers).
    pub teacher: Option<TeacherRef>,
    /// Which checkpoint of the teacher run to use (default: best on validation, else best on test).
    pub teacher_snapshot: Option<Snapshot>,
    /// Run-specific optimisation settings (the paper's per-model batch sizes).
    pub train: Option<TrainPatch>,
    /// Run-specific model settings.
    pub model_options: Option<ModelPatch>,
    /// A grid: the entry becomes one run per combination of these values, e.g.
    /// `{ method.temperature: [1, 4, 20, 40], method.correct_prob: [0.9, 0.99] }`; each gets the id
    /// `<id>+temperature=1+correct_prob=0.9` and its own content-addressed run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<BTreeMap<String, Vec<serde_yaml::Value>>>,
}

/// A run's teacher as a spec names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TeacherRef {
    /// The run of this spec with this id.
    Run(String),
    /// Weights trained elsewhere.
    Weights(ExternalTeacher),
}

impl<'de> Deserialize<'de> for TeacherRef {
    /// A string is a run id; a mapping is an [`ExternalTeacher`], whose own error (a missing `model`, an
    /// unknown key or model name) is kept rather than serde's "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(id) => Ok(TeacherRef::Run(id)),
            v @ serde_yaml::Value::Mapping(_) => ExternalTeacher::deserialize(v)
                .map(TeacherRef::Weights)
                .map_err(|e| D::Error::custom(format!("teacher {{ model, weights, sha256? }}: {e}"))),
            _ => Err(D::Error::custom(
                "teacher: expected a run id or { model: torchvision.<name>, weights: FILE, sha256?: HEX }",
            )),
        }
    }
}

impl TeacherRef {
    /// The teacher run's id, when the teacher is a run of the spec.
    #[must_use]
    pub fn run(&self) -> Option<&str> {
        match self {
            TeacherRef::Run(id) => Some(id),
            TeacherRef::Weights(_) => None,
        }
    }

    /// The external weights, when the teacher is not a run of the spec.
    #[must_use]
    pub fn weights(&self) -> Option<&ExternalTeacher> {
        match self {
            TeacherRef::Run(_) => None,
            TeacherRef::Weights(w) => Some(w),
        }
    }
}

/// A teacher trained elsewhere: a PyTorch `state_dict` file under the model's PyTorch names (torchvision's
/// pretrained checkpoints, e.g. `resnet18-f37072fd.pth`, for the `torchvision.*` models).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalTeacher {
    /// The teacher's architecture.
    pub model: Arch,
    /// The file: an absolute path, or a name looked up in `$TFKD_WEIGHTS`, `data/weights/` and torch's hub
    /// cache (`$TORCH_HOME/hub/checkpoints`, default `~/.cache/torch/hub/checkpoints`). Its file name (not the
    /// folder) is part of the student's run id.
    pub weights: String,
    /// The file's sha256 (hex), checked before training and then part of the run id; without it, a name of
    /// torchvision's form `<name>-<first 8 hex digits of the sha256>.pth` is checked against its digits, and
    /// the file's full digest is recorded with the run either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl ExternalTeacher {
    /// The hex digits torchvision's file names end in (`densenet121-a639ec97.pth` → `a639ec97`): the first
    /// 8 or more hex digits of the file's sha256; `None` for other names.
    #[must_use]
    pub fn name_digits(&self) -> Option<&str> {
        let name = self.file_name();
        let stem = name.strip_suffix(".pth").or_else(|| name.strip_suffix(".pt"))?;
        let digits = stem.rsplit('-').next()?;
        (digits.len() >= 8 && digits.len() < stem.len() && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(digits)
    }

    /// The weights' file name, as run ids and tables show it.
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.weights.rsplit(['/', '\\']).next().unwrap_or(&self.weights)
    }
}

/// A profile's patch of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPatch {
    /// Optimisation patch.
    pub train: Option<TrainPatch>,
    /// Model patch.
    pub model_options: Option<ModelPatch>,
    /// Replace the method's hyper-parameters.
    pub method: Option<Method>,
    /// Replace the teacher snapshot choice.
    pub teacher_snapshot: Option<Snapshot>,
}

/// A teacher checkpoint other than the final choice of the teacher run.
///
/// Written `{ epoch: 1 }` (the weights after that 1-based epoch: the official De-KD ResNet18) or
/// `{ accuracy: 0.15 }` (the first epoch whose test accuracy reaches that fraction).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SnapshotRepr", into = "SnapshotRepr")]
pub enum Snapshot {
    /// The weights at the end of this (1-based) epoch.
    Epoch(u32),
    /// The first epoch whose test accuracy reaches this fraction (0–1).
    Accuracy(f64),
}

/// The YAML shape of [`Snapshot`]: exactly one of the two keys.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRepr {
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy: Option<f64>,
}

impl TryFrom<SnapshotRepr> for Snapshot {
    type Error = String;
    fn try_from(r: SnapshotRepr) -> Result<Self, String> {
        match (r.epoch, r.accuracy) {
            (Some(e), None) => Ok(Snapshot::Epoch(e)),
            (None, Some(a)) => Ok(Snapshot::Accuracy(a)),
            _ => Err("teacher_snapshot needs exactly one of `epoch` or `accuracy`".into()),
        }
    }
}

impl From<Snapshot> for SnapshotRepr {
    fn from(s: Snapshot) -> Self {
        match s {
            Snapshot::Epoch(e) => SnapshotRepr { epoch: Some(e), accuracy: None },
            Snapshot::Accuracy(a) => SnapshotRepr { epoch: None, accuracy: Some(a) },
        }
    }
}
