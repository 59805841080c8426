//! From a resolved run config to the objects that train: splits, loss, model config, augmentation.

use std::{path::Path, sync::Arc};

use tfkd_datasets::{Augment, Dataset, EncodedDataset, Images, Normalize, Source};
use tfkd_losses as losses;
use tfkd_models::{Arch, ModelConfig};
use tfkd_spec::{config::DataConfig, Experiment, PlannedRun, RunConfig};

use crate::error::{Result, TrainError};

/// Seed of every data carve (validation split, subsets): fixed, so all seeds and runs of a target see
/// the same images and differ only in initialisation, order, augmentation and dropout.
pub const DATA_SEED: u64 = 0;

/// The splits a run trains and evaluates on: decoded in memory (CIFAR and the other fixed-size sources) or
/// encoded files decoded per batch (ImageNet).
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training images (after carving validation and subsetting).
    pub train: Images,
    /// Validation images (may be empty).
    pub val: Images,
    /// Test images.
    pub test: Images,
    /// Number of classes.
    pub classes: usize,
    /// Channels of every image the models see (3 for ImageNet's RGB).
    pub channels: usize,
}

/// The data source a config names (explicit `path` or the source's default location), at its image size.
#[must_use]
pub fn source(data: &DataConfig, data_dir: &Path) -> Source {
    let source = match &data.path {
        Some(path) => Source::at(data.source, path.into()),
        None => Source::named(data.source, data_dir),
    };
    match data.image_size {
        Some(size) => source.sized(size),
        None => source,
    }
}

/// A split that validation and subsets can be carved from.
trait Carve: Sized + Clone {
    /// `n` images drawn per class in proportion (the carve) and the rest.
    fn carve(&self, n: usize, purpose: &str) -> Result<(Self, Self)>;
}

impl Carve for tfkd_datasets::Split {
    fn carve(&self, n: usize, purpose: &str) -> Result<(Self, Self)> {
        Ok(self.stratified(n, DATA_SEED, purpose)?)
    }
}

impl Carve for tfkd_datasets::EncodedSplit {
    fn carve(&self, n: usize, purpose: &str) -> Result<(Self, Self)> {
        Ok(self.stratified(n, DATA_SEED, purpose)?)
    }
}

/// Validation carved from `train`, then the training and test subsets, as the config says.
fn carve<S: Carve>(train: &S, test: &S, data: &DataConfig) -> Result<[S; 3]> {
    let (val, train) = train.carve(data.val_size, "val")?;
    let train = match data.train_subset {
        Some(n) => train.carve(n, "train-subset")?.0,
        None => train,
    };
    let test = match data.test_subset {
        Some(n) => test.carve(n, "test-subset")?.0,
        None => test.clone(),
    };
    Ok([train, val, test])
}

/// Carves validation and subsets from a dataset as the config says.
pub fn splits(ds: &Dataset, data: &DataConfig) -> Result<Splits> {
    let [train, val, test] = carve(&ds.train, &ds.test, data)?;
    let channels = train.chw[0];
    Ok(Splits {
        train: Arc::new(train).into(),
        val: Arc::new(val).into(),
        test: Arc::new(test).into(),
        classes: ds.classes.len(),
        channels,
    })
}

/// [`splits`] for an encoded dataset (ImageNet): the same carves, by the same stratified draws.
pub fn encoded_splits(ds: &EncodedDataset, data: &DataConfig) -> Result<Splits> {
    let [train, val, test] = carve(&ds.train, &ds.test, data)?;
    Ok(Splits {
        train: Arc::new(train).into(),
        val: Arc::new(val).into(),
        test: Arc::new(test).into(),
        classes: ds.classes.len(),
        channels: 3,
    })
}

/// The augmentation preset, minus the steps the spec switches off.
#[must_use]
pub fn augment(data: &DataConfig) -> Augment {
    Augment::preset(data.augment, data.interpolation, &data.augment_off)
}

/// The evaluation transform of the preset: none for the fixed-size sources, Resize(256) → CenterCrop(224) for
/// ImageNet (docs/paper.md §4.4).
#[must_use]
pub fn evaluation(data: &DataConfig) -> Augment {
    Augment::evaluation(data.augment)
}

/// The normalisation preset for `channels`-channel images.
pub fn normalize(data: &DataConfig, channels: usize) -> Result<Normalize> {
    Normalize::preset(data.normalize, channels).map_err(|e| tfkd_datasets::DataError::Setting(e).into())
}

/// The model a run trains (one member; arrays set their member count on it).
#[must_use]
pub fn model(run: &RunConfig, classes: usize, channels: usize) -> (Arch, ModelConfig) {
    (
        run.model,
        ModelConfig {
            classes: classes as i64,
            in_channels: channels as i64,
            width: run.model_options.width,
            googlenet_bn_eps_quirk: run.model_options.googlenet_bn_eps_quirk,
            members: 1,
        },
    )
}

/// The loss of a run: its method, with the KL divided as the run's `kl_classes` says ([`losses::Loss::of`]).
#[must_use]
pub fn loss(run: &RunConfig) -> losses::Loss {
    losses::Loss::of(&run.method, run.kl_classes)
}

#[cfg(test)]
mod tests {
    use tfkd_datasets::Op;

    #[test]
    fn augmentation_steps_can_be_switched_off() {
        let exp = tfkd_spec::load_str(
            "name: t\ndataset: { source: cifar10-jpeg, augment: cifar, augment_off: [rotate], normalize: cifar-official }\n\
             train: { epochs: 1, batch_size: 8, lr: 0.1, lr_batch_scaling: true, momentum: 0.9, weight_decay: 0.0 }\n\
             model: { width: 1.0 }\nruns: [{ id: a, model: cnn5, method: { kind: baseline } }]\nprofiles: { p: {} }\n",
            std::path::Path::new("t.yaml"),
            "p",
            &[],
        )
        .unwrap();
        let ops = super::augment(&exp.runs[0].data).ops;
        assert_eq!(ops, vec![Op::Crop { padding: 4 }, Op::Flip]);
    }
}

/// The data and the planned runs of an experiment.
#[derive(Debug)]
pub struct Plan {
    /// The splits every run trains and evaluates on.
    pub splits: Splits,
    /// Content hash of the data (part of every run id).
    pub data_hash: String,
    /// The runs, teachers before their students.
    pub runs: Vec<PlannedRun>,
}

/// Loads the data an experiment uses and plans its runs.
pub fn plan(exp: &Experiment, data_dir: &Path, cache_dir: &Path) -> Result<Plan> {
    let data = &exp
        .runs
        .first()
        .ok_or_else(|| TrainError::UnknownRun { target: exp.name.clone(), run_id: "(none)".into() })?
        .data;
    let source = source(data, data_dir);
    let (splits, data_hash) = if data.source.descriptor().streamed() {
        let ds = source.load_encoded(cache_dir)?;
        (encoded_splits(&ds, data)?, ds.content_hash)
    } else {
        let ds = source.load(cache_dir)?;
        (splits(&ds, data)?, ds.content_hash)
    };
    let runs = tfkd_spec::plan(exp, &data_hash);
    Ok(Plan { splits, data_hash, runs })
}
