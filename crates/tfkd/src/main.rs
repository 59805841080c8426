//! The `tfkd` command: a thin layer of argument parsing over the library crates.

mod bench;
mod data;
mod doctor;
mod estimate;
mod experiment;
mod libtorch;
mod models;
mod numerics;
mod paths;
mod progress;
mod report;
mod slurm;

use std::{
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

/// Reproduce, check and extend "Revisiting Knowledge Distillation via Label Smoothing Regularization".
#[derive(Debug, Parser)]
#[command(name = "tfkd", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the libtorch version, CUDA/cuDNN availability, thread count and folders in use.
    #[command(alias = "info")]
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the model zoo with parameter counts and forward FLOPs at 32×32.
    Models {
        /// Number of classes K.
        #[arg(long, default_value_t = 100)]
        classes: i64,
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
        args: experiment::RunArgs,
    },
    /// Run a target (a spec name, e.g. table3) end to end.
    Reproduce {
        /// The target, e.g. `table3`.
        target: String,
        #[command(flatten)]
        args: experiment::RunArgs,
    },
    /// Worker of `--jobs`: trains one run and prints its events as JSON lines (not for direct use).
    #[command(hide = true)]
    TrainOne(experiment::TrainOneArgs),
    /// Regenerate tables and figures from recorded runs (no training).
    Report {
        /// Target or alias (table1…table6); default: every alias with records.
        target: Option<String>,
        /// Profile whose records to use.
        #[arg(long, default_value = "quick")]
        profile: String,
        /// Accuracy shown: best-test (the official protocol), last, or test-at-best-val.
        #[arg(long, default_value = "best-test", value_parser = parse_metric)]
        metric: tfkd_report::Metric,
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
enum DataCommand {
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
enum BenchCommand {
    /// Augmented images per second of the CPU input pipeline on cifar10-jpeg.
    Data {
        /// Images to push through the pipeline.
        #[arg(long, default_value_t = 20_000)]
        images: usize,
        /// Batch size.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Images per second of the reference pipeline measured in the same run; prints the ratio.
        #[arg(long)]
        reference: Option<f64>,
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
        device: String,
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
        /// Width multiplier.
        #[arg(long, default_value_t = 1.0)]
        width: f64,
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
        device: String,
        /// Also write the table (Markdown) and rows (JSON) to this path stem.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// JSON lines of the PyTorch reference (`benches/torch_train.py timed`), one per model.
        #[arg(long)]
        reference: Option<std::path::PathBuf>,
        /// As a packed worker: start timing at this Unix time in ms and print one JSON row.
        #[arg(long, hide = true)]
        worker_start_at: Option<u64>,
    },
}

fn parse_metric(s: &str) -> Result<tfkd_report::Metric, String> {
    serde_yaml::from_str(s).map_err(|_| format!("unknown metric '{s}': expected best-test, last or test-at-best-val"))
}

fn main() -> ExitCode {
    // A closed pipe (`tfkd status | head -1`) ends tfkd quietly, as other command-line tools, not with a panic.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    if let Err(err) = paths::check() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    // The numerics mode must be in the environment before libtorch dispatches its first kernel.
    if let Err(err) = numerics::apply_for(&cli.command) {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let cuda = libtorch::enable_cuda();
    progress::data_bars();
    // SIGINT, SIGTERM and SIGUSR1 (a cluster's preemption notice) ask training to stop at the next batch
    // with a checkpoint; a second SIGINT or SIGTERM stops at once.
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, interrupt.clone());
        let _ = signal_hook::flag::register(signal, interrupt.clone());
    }
    let _ = signal_hook::flag::register(signal_hook::consts::SIGUSR1, interrupt.clone());
    match run(cli, &cuda, interrupt) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<experiment::Interrupted>().is_some() {
                ExitCode::from(experiment::INTERRUPTED_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli, cuda: &libtorch::CudaLoad, interrupt: Arc<AtomicBool>) -> Result<ExitCode> {
    match cli.command {
        Command::Doctor { json } => {
            let report = doctor::report(cuda);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { classes, width, json } => {
            let rows = models::list(classes, width)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", models::render(&rows, classes, width));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command: DataCommand::Inspect { source, json } } => {
            let report = data::inspect(source)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command: DataCommand::Fetch { name } } => {
            let dest = data::fetch(&name)?;
            println!("{name} is in {}", dest.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { command: BenchCommand::Data { images, batch, reference } } => {
            let ours = bench::data(images, batch)?;
            println!(
                "tfkd CPU pipeline: {ours:.0} augmented images/s ({images} images, batch {batch}, {} threads)",
                rayon::current_num_threads()
            );
            if let Some(reference) = reference {
                println!(
                    "reference:         {reference:.0} images/s\nratio tfkd / reference: {:.2}x",
                    ours / reference
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { command: BenchCommand::Models { widths, models, batch, seconds, out, device, reference } } => {
            let ctx = experiment::context(&device, interrupt)?;
            let reference = match reference {
                Some(path) => bench::read_reference(&path)?,
                None => (Vec::new(), String::new()),
            };
            let archs: Vec<tfkd_models::Arch> = if models.is_empty() {
                tfkd_models::Arch::ALL.to_vec()
            } else {
                models.iter().map(|m| m.parse()).collect::<Result<_, _>>()?
            };
            let report = bench::models(&archs, &widths, batch, seconds, &ctx, reference)?;
            print!("{}", bench::publish(&report, report.markdown(), out.as_deref())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::Array {
                    models,
                    width,
                    batch,
                    arrays,
                    packed,
                    seconds,
                    device,
                    out,
                    reference,
                    worker_start_at,
                },
        } => {
            let ctx = experiment::context(&device, interrupt)?;
            let archs: Vec<tfkd_models::Arch> = models.iter().map(|m| m.parse()).collect::<Result<_, _>>()?;
            if let Some(at) = worker_start_at {
                if let Some(t) = std::env::var("TFKD_BENCH_THREADS").ok().and_then(|t| t.parse().ok()) {
                    tch::set_num_threads(t);
                }
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
                std::thread::sleep(std::time::Duration::from_millis(at.saturating_sub(now)));
                let (ips, steps) = bench::array_throughput(archs[0], width, batch, 1, seconds, ctx.device)?;
                let row = bench::ArrayRow {
                    model: archs[0].to_string(),
                    width,
                    mode: "one run".into(),
                    runs: 1,
                    img_per_s: ips,
                    steps,
                };
                println!("{}", serde_json::to_string(&row)?);
                return Ok(ExitCode::SUCCESS);
            }
            let start = std::time::Instant::now();
            let mut provenance =
                tfkd_trainers::provenance::Provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
            let mut rows = Vec::new();
            for &arch in &archs {
                for &a in &arrays {
                    let (ips, steps) = bench::array_throughput(arch, width, batch, a, seconds, ctx.device)?;
                    let mode = if a == 1 { "one run" } else { "array" };
                    eprintln!("{arch:<14} {mode:<10} {a:>2} runs {ips:>10.1} img/s");
                    rows.push(bench::ArrayRow {
                        model: arch.to_string(),
                        width,
                        mode: mode.into(),
                        runs: a,
                        img_per_s: ips,
                        steps,
                    });
                }
                for &n in packed.iter().filter(|&&n| n >= 2) {
                    let (ips, steps) = bench::packed_throughput(arch, width, batch, n, seconds, &device)?;
                    eprintln!("{arch:<14} processes  {n:>2} runs {ips:>10.1} img/s");
                    rows.push(bench::ArrayRow {
                        model: arch.to_string(),
                        width,
                        mode: "processes".into(),
                        runs: n,
                        img_per_s: ips,
                        steps,
                    });
                }
            }
            let reference: Vec<serde_json::Value> = match reference {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(serde_json::from_str)
                    .collect::<Result<_, _>>()
                    .with_context(|| {
                        format!("{}: expected JSON lines of benches/torch_train.py timed", path.display())
                    })?,
                None => Vec::new(),
            };
            provenance.finish(start.elapsed().as_secs_f64());
            let report = bench::ArrayReport { provenance, batch, rows, reference };
            print!("{}", bench::publish(&report, report.markdown(), out.as_deref())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::TrainOne(args) => experiment::train_one(&args, interrupt),
        Command::Run { spec, args } => {
            let mut exp = experiment::load(&experiment::spec_path(&spec)?, &args.profile, &args.sets)?;
            experiment::select(&mut exp, &args.only)?;
            if experiment::train(&exp, &args, interrupt)?.is_some() {
                eprintln!("index: {}", report::write_index()?.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reproduce { target, args } => {
            let start = std::time::Instant::now();
            if let Some(name) = report::aliases().ok().and_then(|a| Some((a.aliases.get(&target)?.clone(), a))) {
                let (name, a) = name;
                eprintln!("{target} = {name} (table numbering verified: {}; {})", a.verified, a.reason.trim());
            }
            let mut exp = experiment::load(&experiment::spec_path(&target)?, &args.profile, &args.sets)?;
            experiment::select(&mut exp, &args.only)?;
            let Some(ran) = experiment::train(&exp, &args, interrupt)? else {
                return Ok(ExitCode::SUCCESS);
            };
            if exp.paper.is_some() || !exp.sweeps.is_empty() {
                report::store_teacher_curve(&exp, &ran.plan)?;
                let (rep, dir) = report::report(&exp, tfkd_report::Metric::BestTest)?;
                println!("{}", rep.markdown);
                if rep.table.is_some() {
                    println!("verdicts:\n{}", report::verdict_lines(&rep));
                }
                println!("table and figures written to {}", dir.display());
            }
            println!("index: {}", report::write_index()?.display());
            eprintln!("{target} [{}] finished in {:.1} min", exp.profile, start.elapsed().as_secs_f64() / 60.0);
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { target, profile, metric } => {
            let all = target.is_none();
            let targets: Vec<String> = match target {
                Some(t) => vec![t],
                None => report::aliases()?.aliases.into_keys().chain(report::extra_targets()).collect(),
            };
            for t in targets {
                let exp = experiment::load(&experiment::spec_path(&t)?, &profile, &[])?;
                if target_has_records(&exp) {
                    let (_, dir) = report::report(&exp, metric)?;
                    println!("{t}: {} → {}", exp.name, dir.display());
                } else {
                    println!("{t}: {} has no records for profile {profile}; skipped", exp.name);
                }
            }
            if all {
                println!("index: {}", report::write_index()?.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { spec, profile, sets } => {
            let exp = experiment::load(&experiment::spec_path(&spec)?, &profile, &sets)?;
            print!("{}", experiment::check(&exp, interrupt)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { target, profile } => {
            match target {
                Some(t) => print!(
                    "{}",
                    experiment::target_status(&experiment::load(&experiment::spec_path(&t)?, &profile, &[])?)?
                ),
                None => println!("{}", experiment::status()?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean { failed, damaged, temp } => {
            println!("{}", experiment::clean(experiment::Clean { failed, damaged, temp })?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn target_has_records(exp: &tfkd_spec::Experiment) -> bool {
    experiment::results_dir(exp).join("runs").is_dir()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
