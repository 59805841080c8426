//! The command line: what each subcommand takes (clap definitions), turned into the library's options.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tfkd_spec::names::DeviceChoice;

/// Reproduce, check and extend "Revisiting Knowledge Distillation via Label Smoothing Regularization".
#[derive(Debug, Parser)]
#[command(name = "tfkd", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the libtorch version, CUDA/cuDNN availability, thread count and folders in use.
    #[command(alias = "info")]
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a finished run's best weights as a PyTorch state dict under torchvision's (or the official
    /// code's) names, for `load_state_dict(strict=True)`.
    Export {
        /// The run id (a record's `run_id`).
        run: String,
        /// The file to write (default: `<run id>.pth` here).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the model zoo with parameter counts and forward FLOPs at 32×32 (224×224 with --imagenet).
    Models {
        /// Number of classes K (default 100; 1000 with --imagenet; at most 100,000).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        classes: Option<i64>,
        /// List torchvision's ImageNet models (`torchvision.<name>`) instead of the CIFAR zoo.
        #[arg(long)]
        imagenet: bool,
        /// Channel width multiplier (1 = the paper's models).
        #[arg(long, default_value_t = 1.0)]
        width: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or download datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Measure throughput on this machine.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Train every run of an experiment spec (YAML).
    Run {
        /// Path to the spec, or its name under experiments/.
        spec: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Run a target (a spec name, e.g. table3) end to end.
    Reproduce {
        /// The target, e.g. `table3`.
        target: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Worker of `--jobs`: trains one run and prints its events as JSON lines (not for direct use).
    #[command(hide = true)]
    TrainOne(TrainOneArgs),
    /// Regenerate tables and figures from recorded runs (no training).
    Report {
        /// Target or alias (table1…table6); default: every alias with records.
        target: Option<String>,
        /// Profile whose records to use.
        #[arg(long, default_value = "quick")]
        profile: String,
        /// Accuracy shown: best-test (the official protocol), last, or test-at-best-val.
        #[arg(long, default_value = "best-test")]
        metric: tfkd_report::Metric,
    },
    /// Write NAME.yaml, a commented spec skeleton of an experiment of your own (runs and claims), here.
    New {
        /// The experiment's name (lower-case letters, digits, '-'); also its results folder.
        name: String,
        /// Replace an existing NAME.yaml.
        #[arg(long)]
        force: bool,
    },
    /// Validate a spec without running it and print the resolved runs.
    Check {
        /// Path to the spec, or its name under experiments/.
        spec: String,
        /// Profile to resolve.
        #[arg(long, default_value = "quick")]
        profile: String,
        /// Override a setting (as for `run`).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Runs done, partial, failed — for all cached runs, or per run of a target.
    Status {
        /// A target whose planned runs to list (pending ones included).
        target: Option<String>,
        /// Profile of the target.
        #[arg(long, default_value = "quick")]
        profile: String,
    },
    /// Remove failed or damaged run folders, or temporary files left by killed processes.
    #[command(group = clap::ArgGroup::new("what").required(true).multiple(true))]
    Clean {
        /// Remove failed runs so the next invocation retries them.
        #[arg(long, group = "what")]
        failed: bool,
        /// Remove damaged run folders (the next invocation would resume or retrain them anyway).
        #[arg(long, group = "what")]
        damaged: bool,
        /// Remove temporary files that processes killed mid-write left in the cache and results.
        #[arg(long, group = "what")]
        temp: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Counts per split and class, and per-channel mean/std of the decoded images.
    Inspect {
        /// cifar10, cifar100, cifar10-jpeg, tiny-imagenet, imagefolder, fashion-mnist or mnist.
        source: tfkd_datasets::SourceName,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Download an official archive, verify its published checksum and unpack it into the data folder.
    Fetch {
        /// cifar10, cifar100, tiny-imagenet or fashion-mnist.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Augmented images per second of the CPU input pipeline on cifar10-jpeg, or (--source imagenet) of the
    /// ImageNet training pipeline on an ILSVRC-format folder.
    Data {
        /// Images to push through the pipeline.
        #[arg(long, default_value_t = 20_000)]
        images: usize,
        /// Batch size [default: 128; 256 with --source imagenet].
        #[arg(long)]
        batch: Option<usize>,
        /// The reference pipeline measured in the same run, for the ratio: its images per second (cifar10-jpeg),
        /// or the JSON file `benches/torchvision_imagenet_data.py` printed (imagenet).
        #[arg(long)]
        reference: Option<String>,
        /// cifar10-jpeg, or imagenet (ILSVRC-format JPEGs decoded per batch).
        #[arg(long, default_value = "cifar10-jpeg")]
        source: tfkd_datasets::SourceName,
        /// With --source imagenet: the ILSVRC-format folder [default: data/imagenet or $TFKD_IMAGENET].
        #[arg(long)]
        path: Option<std::path::PathBuf>,
        /// With --source imagenet: rayon threads decoding and transforming (the reference's workers).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// With --source imagenet: also write the report (Markdown) and its data (JSON) to this path stem.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Training images per second of each model and width (batch 128; the CPU with all threads, or a GPU).
    Models {
        /// Width multipliers to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,0.25,0.125")]
        widths: Vec<f64>,
        /// Models to measure (default: the whole registry).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Batch size.
        #[arg(long, default_value_t = 128)]
        batch: i64,
        /// Time budget per model and width, in seconds (at least two steps are always timed).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Also write the table (Markdown) and rows (JSON) to this path stem.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Device: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: DeviceChoice,
        /// The reference measured on the same machine, adding a ratio column: the JSON rows of
        /// `benches/torch_train.py steps`, or the JSON of another `tfkd bench models --out` (other numerics).
        #[arg(long)]
        reference: Option<std::path::PathBuf>,
    },
    /// Aggregate training img/s of one run at a time, fused arrays of A runs and N packed worker processes
    /// (real cifar10-jpeg images, official augmentation).
    Array {
        /// Models to measure.
        #[arg(long, value_delimiter = ',', default_value = "resnet18,mobilenetv2,shufflenetv2")]
        models: Vec<String>,
        /// Width multipliers (`--width` is the same option).
        #[arg(long, alias = "width", value_delimiter = ',', default_value = "1")]
        widths: Vec<f64>,
        /// Batch size per run.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Array sizes A (1 = one run at a time, the baseline).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
        arrays: Vec<usize>,
        /// Numbers of packed worker processes N, each training one run (0 or 1: none).
        #[arg(long, value_delimiter = ',', default_value = "4")]
        packed: Vec<usize>,
        /// Seconds timed per measurement (at least two steps).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Device: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: DeviceChoice,
        /// Also write the table (Markdown) and rows (JSON) to this path stem.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// JSON lines of the PyTorch reference (`benches/torch_train.py timed`), one per model and width.
        #[arg(long)]
        reference: Option<std::path::PathBuf>,
        /// As a packed worker: start timing at this Unix time in ms and print one JSON row.
        #[arg(long, hide = true)]
        worker_start_at: Option<u64>,
    },
}

/// Options shared by `run` and `reproduce`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Profile: smoke (seconds), quick (a 2-core CPU machine), gpu (one GPU) or paper (the paper's settings).
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Override a setting, e.g. `--set train.epochs=3` (sections: dataset, train, model, seeds, and an executor's
    /// own settings as `executor.NAME.KEY`, e.g. `--set executor.slurm.partition=gpu`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Device: auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// One line per epoch instead of progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Train only these run ids (and the teachers they need).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Jobs trained at once, each in its own process [default: on the CPU, cores ÷ train.threads
    /// (1 when train.threads is 0, i.e. all cores); on a GPU, 1]. Results do not depend on it. At least 1.
    #[arg(long, short, value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,
    /// Where to train: here, or on a Slurm cluster (job arrays submitted from this login node; run the
    /// same command again when they finish to write the report, or pass --wait).
    #[arg(long, default_value_t, value_parser = executor_parser())]
    pub executor: tfkd_commands::ExecutorName,
    /// With `--executor slurm`: print the sbatch scripts and their order without submitting anything.
    #[arg(long)]
    pub dry_run: bool,
    /// With `--executor slurm`: wait for the submitted tasks, then write the records and report.
    #[arg(long)]
    pub wait: bool,
    /// Train even when the estimated time here is long (above 3 hours), without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With `--executor slurm`: the cluster's settings (default: $TFKD_SLURM_CONFIG, slurm.yaml in the
    /// project, ~/.config/tfkd/slurm.yaml).
    #[arg(long, value_name = "FILE")]
    pub slurm_config: Option<PathBuf>,
}

/// Arguments of the hidden `tfkd train-one`: a worker process that trains one job (one run, or an array).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOneArgs {
    /// Path to the spec.
    pub spec: PathBuf,
    /// The runs' ids (content hashes); several train as one fused array.
    #[arg(long = "run-id", required = true)]
    pub run_ids: Vec<String>,
    /// Profile.
    #[arg(long)]
    pub profile: String,
    /// Overrides, as given to the parent.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Device.
    #[arg(long)]
    pub device: DeviceChoice,
    /// libtorch threads when the run's train.threads is 0.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Leave out the per-batch events (a cluster task's log keeps one line per epoch and run).
    #[arg(long)]
    pub no_batch_events: bool,
}

impl RunArgs {
    /// The library's options for training (the profile, selection and display stay here).
    pub fn options(&self) -> tfkd_commands::RunOptions {
        tfkd_commands::RunOptions {
            sets: self.sets.clone(),
            device: self.device,
            jobs: self.jobs,
            executor: self.executor,
            flags: tfkd_commands::Flags {
                dry_run: self.dry_run,
                wait: self.wait,
                slurm_config: self.slurm_config.clone(),
            },
            yes: self.yes,
        }
    }
}

impl TrainOneArgs {
    /// The worker's job as the library takes it.
    pub fn job(&self) -> tfkd_commands::worker::WorkerJob {
        tfkd_commands::worker::WorkerJob {
            spec: self.spec.clone(),
            run_ids: self.run_ids.clone(),
            profile: self.profile.clone(),
            sets: self.sets.clone(),
            device: self.device,
            threads: self.threads,
            no_batch_events: self.no_batch_events,
        }
    }
}

/// `local` or `slurm` (and the hidden `shell`), listed as clap lists an enum's values.
fn executor_parser() -> impl clap::builder::TypedValueParser<Value = tfkd_commands::ExecutorName> {
    use clap::builder::{PossibleValue, TypedValueParser as _};
    let values = tfkd_commands::ExecutorName::ALL.map(|e| PossibleValue::new(e.name()).hide(!e.listed()));
    clap::builder::PossibleValuesParser::new(values)
        .map(|s| s.parse::<tfkd_commands::ExecutorName>().expect("one of the listed values"))
}
