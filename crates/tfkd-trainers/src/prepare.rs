//! From a resolved run config to the objects that train: splits, loss, model config, augmentation.

use std::{path::Path, sync::Arc};

use tfkd_datasets::{Augment, Dataset, EncodedDataset, Images, Normalize, Source};
use tfkd_losses as losses;
use tfkd_models::{Arch, ModelConfig};
use tfkd_spec::{config::DataConfig, Experiment, KlReduction, Method, PlannedRun, RegVariant, RunConfig, Spread};

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

    /// The per-example soft-target weight that tables print ([`tfkd_spec::RunConfig::soft_weight`]) is the
    /// weight the trained loss really applies: loss − (label weight)·CE = weight · mean over examples of
    /// KL(soft target ‖ student) (for LSR: of the cross-entropy with the smoothing distribution), computed
    /// here from the definitions, for every method, both reductions and a substitution's `kl_classes`.
    #[test]
    fn soft_weight_is_what_the_loss_applies() {
        use tch::{Kind, Tensor};
        use tfkd_losses as losses;
        use tfkd_spec::{Method, RegVariant};
        let exp = tfkd_spec::load_str(
            "name: t\ndataset: { source: cifar10-jpeg, augment: none, normalize: half }\n\
             train: { epochs: 1, batch_size: 8, lr: 0.1, lr_batch_scaling: true, momentum: 0.9, weight_decay: 0.0 }\n\
             model: { width: 1.0 }\nruns:\n\
             - { id: b, model: cnn5, method: { kind: baseline } }\n\
             - { id: kd, model: cnn5, method: { kind: kd, alpha: 0.95, temperature: 20 }, teacher: b }\n\
             - { id: kdb, model: cnn5, method: { kind: re-kd, alpha: 0.6, temperature: 4, reduction: batch-mean }, teacher: b }\n\
             - { id: self, model: cnn5, method: { kind: tf-kd-self, alpha: 0.95, temperature: 6, multiplier: 50 }, teacher: b }\n\
             - { id: reg, model: cnn5, method: { kind: tf-kd-reg, alpha: 0.1, temperature: 20, multiplier: 100 } }\n\
             - { id: eq9, model: cnn5, method: { kind: tf-kd-reg, alpha: 0.5, temperature: 4, variant: paper-eq9 } }\n\
             - { id: lsr, model: cnn5, method: { kind: lsr, epsilon: 0.1 } }\n\
             profiles: { p: {} }\n",
            std::path::Path::new("t.yaml"),
            "p",
            &[],
        )
        .unwrap();
        let (n, k) = (16_i64, 10_i64);
        tch::manual_seed(7);
        let student = Tensor::randn([n, k], (Kind::Double, tch::Device::Cpu)) * 3.0;
        let teacher = Tensor::randn([n, k], (Kind::Double, tch::Device::Cpu)) * 3.0;
        let labels = Tensor::randint(k, [n], (Kind::Int64, tch::Device::Cpu));
        let mean_kl = |target: &Tensor, student_t: f64| -> f64 {
            let q = (&student / student_t).log_softmax(1, Kind::Double);
            (target * (target.log() - q)).sum_dim_intlist(1, false, Kind::Double).mean(Kind::Double).double_value(&[])
        };
        let mut runs = exp.runs.clone();
        let mut substituted = exp.runs.iter().find(|r| r.id == "kd").unwrap().clone();
        substituted.kl_classes = Some(200);
        runs.push(substituted);
        for run in runs.iter().filter(|r| r.seed == exp.runs[0].seed) {
            let loss = super::loss(run);
            let terms = loss.compute(&student, &labels, Some(&teacher)).unwrap();
            let (total, ce) = (terms.total.double_value(&[]), terms.ce.double_value(&[]));
            let Some(w) = run.soft_weight() else {
                assert_eq!(run.method.name(), "baseline", "{}: only the baseline has no soft target", run.id);
                continue;
            };
            let (label_weight, soft_term) = match run.method {
                Method::Kd { alpha, temperature: t, .. }
                | Method::ReKd { alpha, temperature: t, .. }
                | Method::TfKdSelf { alpha, temperature: t, .. } => {
                    (1.0 - alpha, mean_kl(&(&teacher / t).softmax(1, Kind::Double), t))
                }
                Method::TfKdReg { alpha, temperature: t, correct_prob, variant, .. } => {
                    let p = losses::virtual_teacher(&labels, k, correct_prob, t).unwrap().to_kind(Kind::Double);
                    let student_t = if variant == RegVariant::PaperEq9 { t } else { 1.0 };
                    (1.0 - alpha, mean_kl(&p, student_t))
                }
                Method::Lsr { epsilon, .. } => {
                    let others = labels.one_hot(k).to_kind(Kind::Double).neg() + 1.0;
                    let ce_others = -(others / (k - 1) as f64 * student.log_softmax(1, Kind::Double))
                        .sum_dim_intlist(1, false, Kind::Double)
                        .mean(Kind::Double)
                        .double_value(&[]);
                    (1.0 - epsilon, ce_others)
                }
                _ => unreachable!("{}", run.id),
            };
            let got = total - label_weight * ce;
            let want = w * soft_term;
            // Double precision throughout, but the virtual teacher is built in single precision.
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{}: loss applies {got}, weight says {want}",
                run.id
            );
        }
        let weights: Vec<(String, Option<f64>)> = runs.iter().map(|r| (r.id.clone(), r.soft_weight())).collect();
        // α·T²/K: 0.95·400/10; α·T² for batch-mean; α·T²·multiplier/K; α·multiplier/K; α (eq9, multiplier 1)/K; ε; /200.
        let expect = [("kd", 38.0), ("kdb", 9.6), ("self", 171.0), ("reg", 1.0), ("eq9", 0.05), ("lsr", 0.1)];
        for (id, w) in expect {
            let got = weights.iter().find(|(i, _)| i == id).and_then(|x| x.1).unwrap();
            assert!((got - w).abs() < 1e-12, "{id}: {got} vs {w}");
        }
        assert!((weights.last().unwrap().1.unwrap() - 1.9).abs() < 1e-12, "KD with the paper's 200 classes kept");
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
