//! From a resolved run config to the objects that train: splits, loss, model config, augmentation.

use std::{path::Path, sync::Arc};

use tfkd_datasets::{Augment, Dataset, Normalize, Source, Split};
use tfkd_losses as losses;
use tfkd_models::{Arch, ModelConfig};
use tfkd_spec::{config::DataConfig, KlReduction, Method, RegVariant, RunConfig, Spread};

use crate::error::Result;

/// Seed of every data carve (validation split, subsets): fixed, so all seeds and runs of a target see
/// the same images and differ only in initialisation, order, augmentation and dropout.
pub const DATA_SEED: u64 = 0;

/// The splits a run trains and evaluates on.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training images (after carving validation and subsetting).
    pub train: Arc<Split>,
    /// Validation images (may be empty).
    pub val: Arc<Split>,
    /// Test images.
    pub test: Arc<Split>,
    /// Number of classes.
    pub classes: usize,
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

/// Carves validation and subsets from a dataset as the config says.
pub fn splits(ds: &Dataset, data: &DataConfig) -> Result<Splits> {
    let (val, train) = ds.train.stratified(data.val_size, DATA_SEED, "val")?;
    let train = match data.train_subset {
        Some(n) => train.stratified(n, DATA_SEED, "train-subset")?.0,
        None => train,
    };
    let test = match data.test_subset {
        Some(n) => ds.test.stratified(n, DATA_SEED, "test-subset")?.0,
        None => ds.test.clone(),
    };
    Ok(Splits { train: Arc::new(train), val: Arc::new(val), test: Arc::new(test), classes: ds.classes.len() })
}

/// The augmentation preset, minus the steps the spec switches off.
#[must_use]
pub fn augment(data: &DataConfig) -> Augment {
    Augment::preset(data.augment, data.interpolation, &data.augment_off)
}

/// The normalisation preset for `channels`-channel images.
pub fn normalize(data: &DataConfig, channels: usize) -> Result<Normalize> {
    Ok(Normalize::preset(data.normalize, channels)?)
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

/// The loss of a run: its method, with the KL divided as the run's `kl_classes` says.
#[must_use]
pub fn loss(run: &RunConfig) -> losses::Loss {
    let reduction = |r: KlReduction| match (r, run.kl_classes) {
        (KlReduction::ElementwiseMean, Some(classes)) => {
            losses::Reduction::ElementwiseMeanOver { classes: classes as i64 }
        }
        (KlReduction::ElementwiseMean, None) => losses::Reduction::ElementwiseMean,
        (KlReduction::BatchMean, _) => losses::Reduction::BatchMean,
    };
    match run.method {
        Method::Baseline {} => losses::Loss::CrossEntropy(losses::CrossEntropy),
        Method::Kd { alpha, temperature, reduction: r }
        | Method::ReKd { alpha, temperature, reduction: r }
        | Method::DeKd { alpha, temperature, reduction: r } => {
            losses::Loss::Kd(losses::Kd { alpha, temperature, reduction: reduction(r) })
        }
        Method::Lsr { epsilon, spread } => losses::Loss::LabelSmoothing(losses::LabelSmoothing {
            epsilon,
            spread: match spread {
                Spread::OverOthers => losses::Spread::OverOthers,
                Spread::Uniform => losses::Spread::Uniform,
            },
        }),
        Method::TfKdSelf { alpha, temperature, multiplier, reduction: r } => {
            losses::Loss::TfKdSelf(losses::TfKdSelf { alpha, temperature, multiplier, reduction: reduction(r) })
        }
        Method::TfKdReg { alpha, temperature, correct_prob, multiplier, variant, reduction: r } => {
            losses::Loss::TfKdReg(losses::TfKdReg {
                alpha,
                temperature,
                correct_prob,
                multiplier,
                variant: match variant {
                    RegVariant::OfficialCode => losses::TfKdRegVariant::OfficialCode,
                    RegVariant::PaperEq9 => losses::TfKdRegVariant::PaperEq9,
                },
                reduction: reduction(r),
            })
        }
    }
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
